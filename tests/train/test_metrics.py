"""UF1 / UAR / accuracy against scikit-learn, and LOSO pooling as MER papers do it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from train.metrics import Metrics, confusion_matrix, pooled_loso, summarize


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("num_classes", [3, 5])
def test_matches_sklearn_on_random_labels(seed, num_classes):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, 200)
    y_pred = np.where(rng.random(200) < 0.5, y_true, rng.integers(0, num_classes, 200))
    labels = list(range(num_classes))
    got = summarize(y_true, y_pred, num_classes)
    assert got.uf1 == pytest.approx(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    assert got.uar == pytest.approx(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    assert got.accuracy == pytest.approx(accuracy_score(y_true, y_pred))


def test_missing_class_counts_as_zero_like_sklearn():
    y_true, y_pred = [0, 0, 1, 1], [0, 0, 1, 0]
    got = summarize(y_true, y_pred, 3)
    assert got.uf1 == pytest.approx(f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=0))
    assert got.per_class_f1[2] == 0.0
    assert Metrics.from_dict(got.as_dict()) == got  # metrics.json's layout reads back to the same object


def test_loso_pools_predictions_instead_of_averaging_folds():
    folds = [("s1", [0, 1], [0, 1]), ("s2", [2, 2, 2, 0], [2, 0, 0, 0])]
    result = pooled_loso(folds, 3)
    pooled_true, pooled_pred = [0, 1, 2, 2, 2, 0], [0, 1, 2, 0, 0, 0]
    assert result.pooled.uf1 == pytest.approx(f1_score(pooled_true, pooled_pred, average="macro"))
    fold_mean = np.mean([result.folds[s].uf1 for s in ("s1", "s2")])
    assert result.pooled.uf1 != pytest.approx(fold_mean)
    assert result.as_dict()["pooled"] == result.pooled.as_dict()


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        confusion_matrix([0, 1], [0], 3)


def test_the_per_person_spotting_plot_is_written_whole_or_not_at_all(tmp_path):
    """benchmarks/spotting_table.py's overall F1 per person: a PNG, every spotter's bars beside each other; a series
    whose people and figures do not pair up is refused and nothing is written."""
    import cv2

    from train.plots import plot_overall_by_person

    series = {"before": (["s15", "s16"], [0.21, 0.70], 0.52), "now": (["s15", "s16"], [0.48, 0.80], 0.68)}
    path = plot_overall_by_person(series, tmp_path / "by_person.png", "held-out people")
    image = cv2.imread(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image is not None and image.shape[1] > image.shape[0]
    with pytest.raises(ValueError):
        plot_overall_by_person({"now": (["s15"], [0.4, 0.5], 0.45)}, tmp_path / "bad.png", "held-out people")
    assert not (tmp_path / "bad.png").exists()
