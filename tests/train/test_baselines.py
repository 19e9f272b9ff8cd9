"""Baselines: the flow features measure real motion, the classifier learns only from training subjects,
and absent classes and tiny splits are handled."""

from __future__ import annotations

import numpy as np
import pytest

from train.baselines import C_GRID, DEFAULT_C, FLOW_GRID, fit_predict, flow_features
from train.data.synthetic import draw_face
from train.metrics import summarize


def _shifted_pair(dx: float, dy: float, size: int = 224):
    face = draw_face(np.random.default_rng([4, 0]), size)
    import cv2

    onset = (face.image * 255).astype(np.uint8)
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    apex = cv2.warpAffine(face.image, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return onset, (np.clip(apex, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("dx, dy", [(0.5, 0.0), (0.0, -0.4), (0.3, 0.3)])
def test_flow_features_measure_a_sub_pixel_translation(dx, dy):
    onset, apex = _shifted_pair(dx, dy)
    features = flow_features(onset, apex)
    assert features.shape == (2 * FLOW_GRID * FLOW_GRID,) and features.dtype == np.float32
    cells = FLOW_GRID * FLOW_GRID
    inner = np.zeros((FLOW_GRID, FLOW_GRID), bool)
    inner[1:-1, 1:-1] = True  # border cells see the reflected edge
    flow_x, flow_y = features[:cells][inner.ravel()], features[cells:][inner.ravel()]
    assert np.median(flow_x) == pytest.approx(dx, abs=0.08)
    assert np.median(flow_y) == pytest.approx(dy, abs=0.08)
    still = flow_features(onset, onset)
    assert np.abs(still).max() < 0.01  # identical frames: no flow (Farneback leaves ~1e-3 of numerical residue)


def _blobs(rng, per_class: int, subjects: int, classes: int = 3, dims: int = 20, spread: float = 0.6):
    centres = rng.normal(0, 1.5, (classes, dims))
    x, y, groups = [], [], []
    for s in range(subjects):
        for c in range(classes):
            for _ in range(per_class):
                x.append(centres[c] + rng.normal(0, spread, dims))
                y.append(c)
                groups.append(f"sub{s:02d}")
    return np.array(x), np.array(y), np.array(groups)


def test_fit_predict_learns_separable_classes_and_is_deterministic():
    rng = np.random.default_rng(0)
    x, y, groups = _blobs(rng, 4, 8)
    train = np.isin(groups, [f"sub{s:02d}" for s in range(6)])
    first = fit_predict(x[train], y[train], groups[train], x[~train], 3)
    again = fit_predict(x[train], y[train], groups[train], x[~train], 3)
    assert first.y_pred == again.y_pred and first.scores == again.scores
    assert summarize(y[~train], first.y_pred, 3)["uf1"] > 0.95
    assert np.allclose(np.sum(first.scores, axis=1), 1.0, atol=1e-5)
    assert first.c in C_GRID


def test_fit_predict_never_sees_held_out_labels():
    """The held-out labels are not an argument; permuting the held-out rows permutes the output."""
    rng = np.random.default_rng(1)
    x, y, groups = _blobs(rng, 3, 6)
    train = groups != "sub05"
    order = rng.permutation(int((~train).sum()))
    plain = fit_predict(x[train], y[train], groups[train], x[~train], 3)
    permuted = fit_predict(x[train], y[train], groups[train], x[~train][order], 3)
    assert np.array_equal(np.array(plain.y_pred)[order], permuted.y_pred)


def test_class_absent_from_training_scores_zero_and_single_class_degenerates():
    rng = np.random.default_rng(2)
    x, y, groups = _blobs(rng, 3, 5, classes=3)
    keep = y != 2
    result = fit_predict(x[keep], y[keep], groups[keep], x, 4)
    assert np.array(result.scores)[:, [2, 3]].max() == 0.0
    only_one = fit_predict(x[y == 0], y[y == 0], groups[y == 0], x[:4], 3)
    assert only_one.y_pred == [0, 0, 0, 0]
    one_subject = fit_predict(x[groups == "sub00"], y[groups == "sub00"], groups[groups == "sub00"], x[:5], 3)
    assert one_subject.c == DEFAULT_C and len(one_subject.y_pred) == 5  # no grouped CV possible: fixed C
