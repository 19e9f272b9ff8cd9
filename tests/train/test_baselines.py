"""Baselines: the flow features measure real motion, the classifier learns only from training subjects,
and absent classes and tiny splits are handled; the strongest linear flow baseline (``strain``) reads the
field's input without magnification, its cell grid chosen by inner CV on the training subjects only."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fourier_translate, smooth_texture

from train.baselines import (
    C_GRID,
    DEFAULT_C,
    FLOW_GRID,
    STRAIN_GRIDS,
    _best_grid,
    fit_predict,
    flow_features,
    strain_features,
)
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
    assert summarize(y[~train], first.y_pred, 3).uf1 > 0.95
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


def _bgr(gray: np.ndarray) -> np.ndarray:
    return np.repeat((np.clip(gray, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)


def test_strain_features_ignore_the_head_and_keep_the_muscle():
    texture = smooth_texture(224, sigma=3.0, seed=4)
    head = fourier_translate(texture, 1.0, 0.5)  # the whole face moves
    muscle = texture.copy()
    muscle[96:160, 96:160] = fourier_translate(texture, 1.0)[96:160, 96:160]  # one region moves
    still, moved = strain_features(_bgr(texture), _bgr(head)), strain_features(_bgr(texture), _bgr(muscle))
    assert [len(v) for v in still] == [4 * g * g for g in STRAIN_GRIDS]
    assert np.abs(still[0]).max() < 0.2 * np.abs(moved[0]).max()
    x_flow = moved[0][:64].reshape(8, 8)  # channel 0 (flow x) of the 8 x 8 grid
    assert x_flow[3:5, 3:5].mean() > 0.5 and np.abs(x_flow[0, 0]) < 0.1


def test_the_grid_is_chosen_on_the_training_subjects_only():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 16)
    groups = [f"s{i % 8}" for i in range(48)]
    informative = rng.standard_normal((48, 10)) + labels[:, None] * 1.5
    noise = rng.standard_normal((48, 10))
    train_idx, eval_idx = np.arange(36), np.arange(36, 48)
    for matrices, expected in (((noise, informative), STRAIN_GRIDS[1]), ((informative, noise), STRAIN_GRIDS[0])):
        chosen = _best_grid(matrices, train_idx, eval_idx, labels[train_idx], groups[:36], 3, seed=0)
        assert chosen["grid"] == expected and len(chosen["y_pred"]) == 12
