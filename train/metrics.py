"""MER metrics, computed as the MER papers and MEGC challenges do: on the predictions *pooled* over
all LOSO folds (not averaged per fold), UF1 = mean over classes of F1_c = 2TP / (2TP + FP + FN),
UAR = mean over classes of TP_c / N_c. A class with no samples and no predictions scores 0 (as
scikit-learn's ``zero_division=0``), so a missing class lowers the score instead of being hidden."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """(true, predicted) counts; rejects labels outside 0..num_classes-1 instead of dropping them."""
    true = np.asarray(y_true, dtype=np.int64).ravel()
    pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"{true.size} labels but {pred.size} predictions")
    for name, values in (("label", true), ("prediction", pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} outside 0..{num_classes - 1}: {sorted(set(values.tolist()) - set(range(num_classes)))}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def summarize(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> dict[str, object]:
    """UF1, UAR, accuracy, per-class F1/recall and the confusion matrix of one set of predictions."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    f1 = _safe_divide(2 * tp, support + predicted)
    recall = _safe_divide(tp, support)
    total = matrix.sum()
    return {
        "uf1": float(f1.mean()),
        "uar": float(recall.mean()),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "samples": int(total),
        "per_class_f1": f1.tolist(),
        "per_class_recall": recall.tolist(),
        "confusion": matrix.tolist(),
    }


def pooled_loso(folds: Iterable[tuple[str, Sequence[int], Sequence[int]]], num_classes: int) -> dict[str, object]:
    """Per-fold and pooled metrics of LOSO folds given as (subject, y_true, y_pred)."""
    per_fold, all_true, all_pred = {}, [], []
    for subject, y_true, y_pred in folds:
        per_fold[subject] = summarize(y_true, y_pred, num_classes)
        all_true.extend(int(v) for v in y_true)
        all_pred.extend(int(v) for v in y_pred)
    return {"pooled": summarize(all_true, all_pred, num_classes), "folds": per_fold}
