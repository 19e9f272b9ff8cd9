"""MER metrics, computed as the MER papers and MEGC challenges do: on the predictions *pooled* over
all LOSO folds (not averaged per fold), UF1 = mean over classes of F1_c = 2TP / (2TP + FP + FN),
UAR = mean over classes of TP_c / N_c. A class with no samples and no predictions scores 0 (as
scikit-learn's ``zero_division=0``), so a missing class lowers the score instead of being hidden."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Labels = Sequence[int] | np.ndarray  # class indices, as a list or an array


@dataclass(frozen=True)
class Metrics:
    """UF1 / UAR / accuracy of one set of predictions (MEGC's measures), with what they were computed on."""

    uf1: float
    uar: float
    accuracy: float
    samples: int
    per_class_f1: tuple[float, ...] = ()
    per_class_recall: tuple[float, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        return cls(
            uf1=float(data["uf1"]),
            uar=float(data["uar"]),
            accuracy=float(data["accuracy"]),
            samples=int(data["samples"]) if "samples" in data else int(sum(map(sum, data.get("confusion", ())))),
            per_class_f1=tuple(data.get("per_class_f1", ())),
            per_class_recall=tuple(data.get("per_class_recall", ())),
            confusion=tuple(tuple(row) for row in data.get("confusion", ())),
        )

    def as_dict(self) -> dict[str, Any]:
        """The layout of metrics.json and the reports (what :meth:`from_dict` reads)."""
        return {
            "uf1": self.uf1,
            "uar": self.uar,
            "accuracy": self.accuracy,
            "samples": self.samples,
            "per_class_f1": list(self.per_class_f1),
            "per_class_recall": list(self.per_class_recall),
            "confusion": [list(row) for row in self.confusion],
        }


@dataclass(frozen=True)
class LosoMetrics:
    """Metrics of the predictions pooled over all folds (what MER papers report), and of each fold."""

    pooled: Metrics
    folds: Mapping[str, Metrics]

    def as_dict(self) -> dict[str, Any]:
        return {"pooled": self.pooled.as_dict(), "folds": {k: v.as_dict() for k, v in self.folds.items()}}


def confusion_matrix(y_true: Labels, y_pred: Labels, num_classes: int) -> np.ndarray:
    """(true, predicted) counts; rejects labels outside 0..num_classes-1 instead of dropping them."""
    true = np.asarray(y_true, dtype=np.int64).ravel()
    pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"{true.size} labels but {pred.size} predictions")
    for name, values in (("label", true), ("prediction", pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} outside 0..{num_classes - 1}: {sorted(set(values.tolist()) - set(range(num_classes)))}"
            )
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def summarize(y_true: Labels, y_pred: Labels, num_classes: int) -> Metrics:
    """UF1, UAR, accuracy, per-class F1/recall and the confusion matrix of one set of predictions."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    f1 = _safe_divide(2 * tp, support + predicted)
    recall = _safe_divide(tp, support)
    total = matrix.sum()
    return Metrics(
        uf1=float(f1.mean()),
        uar=float(recall.mean()),
        accuracy=float(tp.sum() / total) if total else 0.0,
        samples=int(total),
        per_class_f1=tuple(float(v) for v in f1),
        per_class_recall=tuple(float(v) for v in recall),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
    )


def pooled_loso(folds: Iterable[tuple[str, Labels, Labels]], num_classes: int) -> LosoMetrics:
    """Per-fold and pooled metrics of LOSO folds given as (subject, y_true, y_pred)."""
    per_fold: dict[str, Metrics] = {}
    all_true: list[int] = []
    all_pred: list[int] = []
    for subject, y_true, y_pred in folds:
        per_fold[subject] = summarize(y_true, y_pred, num_classes)
        all_true.extend(int(v) for v in y_true)
        all_pred.extend(int(v) for v in y_pred)
    return LosoMetrics(summarize(all_true, all_pred, num_classes), per_fold)
