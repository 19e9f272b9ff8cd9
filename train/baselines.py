"""Baselines every training report carries, trained and scored on exactly the model's split.

A fast model that learned nothing is worthless, and a model's UF1 alone cannot say whether it learned:
on data where every method scores 0.96 it says nothing, on data where it scores 0.27 it may be the
data or the model. So every run also fits, on the same training subjects and for the same held-out
subjects, two cheap references:

* ``probe`` — a linear probe: softmax (multinomial logistic) regression on the *standardised* motion
  prompts the model itself receives (same α, same Gaussian tokenization). The network contains such
  a linear read-out, so a model below the probe has a training or design defect.
* ``flow`` — the field's standard input (OFF-ApexNet, STSTNet, HTNet): OpenCV Farneback optical flow
  onset -> apex on the face crop (no magnification), averaged over a grid of cells, then the same
  classifier. A model below it has not learned micro-expressions.
* ``strain`` — the strongest linear flow baseline measured here, the field's full input: the same flow
  with the face's global (head) motion removed, its magnitude and optical strain
  (:func:`mpt_edge.motion.prompt_variants.strain_channels`), averaged over 8 x 8 or 16 x 16 cells — the
  grid chosen with C by the grouped CV over the training subjects. "Beats flow" means beating this one.

Classifier (scikit-learn): standardise, then ``LogisticRegression`` with balanced class weights (UF1
and UAR weigh every class equally; the data sets are imbalanced); its regularisation C is chosen by
macro-F1 in a grouped cross-validation over the *training* subjects only, so held-out subjects never
influence a baseline either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mpt_edge.motion.config import MotionConfig
from train.data.pairs import encode_pairs, motion_features

if TYPE_CHECKING:
    from train.data.pairs import PairSet

BASELINES = ("probe", "flow", "strain")
LABELS = {
    "model": "model",
    "probe": "linear probe of the motion prompts",
    "flow": "Farneback flow onset->apex + linear classifier",
    "strain": "flow - head motion + optical strain, cells by inner CV + linear classifier",
}
STRAIN_GRIDS = (8, 16)  # cells per side the strain baseline may pool over (chosen by inner CV)
FLOW_GRID = 8  # cells per side the flow field is averaged over (8 x 8 x (dx, dy) = 128 features)
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
DEFAULT_C = 1.0  # when the training subjects are too few for a grouped CV
CV_FOLDS = 4
MAX_ITER = 5000


def flow_features(onset_bgr: np.ndarray, apex_bgr: np.ndarray, grid: int = FLOW_GRID) -> np.ndarray:
    """Farneback flow onset -> apex on the gray face crop, averaged over ``grid`` x ``grid`` cells:
    (2 * grid * grid,) float32, dx then dy, in pixels."""
    g0 = cv2.cvtColor(onset_bgr, cv2.COLOR_BGR2GRAY) if onset_bgr.ndim == 3 else onset_bgr
    g1 = cv2.cvtColor(apex_bgr, cv2.COLOR_BGR2GRAY) if apex_bgr.ndim == 3 else apex_bgr
    flow = cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]  # stubs want a Mat for flow=None
        g0, g1, None, pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
    )
    pooled = cv2.resize(flow, (grid, grid), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pooled.transpose(2, 0, 1).reshape(-1), dtype=np.float32)


def strain_features(
    onset_bgr: np.ndarray, apex_bgr: np.ndarray, grids: Sequence[int] = STRAIN_GRIDS
) -> list[np.ndarray]:
    """:func:`strain_channels` onset -> apex (no magnification) averaged over each grid's cells: one
    (4 * grid * grid,) float32 vector per grid."""
    from mpt_edge.motion.images import as_float_image, to_gray
    from mpt_edge.motion.prompt_variants import strain_channels

    channels = strain_channels(to_gray(as_float_image(onset_bgr)), to_gray(as_float_image(apex_bgr))).transpose(1, 2, 0)
    return [
        np.ascontiguousarray(cv2.resize(channels, (g, g), interpolation=cv2.INTER_AREA).transpose(2, 0, 1).ravel())
        for g in grids
    ]


def flow_matrix(onsets: np.ndarray, apexes: np.ndarray, tick: Callable[[], None] | None = None) -> np.ndarray:
    """:func:`flow_features` of every pair, (N, 2 * FLOW_GRID**2)."""
    rows = np.empty((len(onsets), 2 * FLOW_GRID * FLOW_GRID), np.float32)
    for i in range(len(onsets)):
        rows[i] = flow_features(onsets[i], apexes[i])
        if tick:
            tick()
    return rows


def strain_matrices(onsets: np.ndarray, apexes: np.ndarray) -> list[np.ndarray]:
    """:func:`strain_features` of every pair: one (N, 4 * grid²) matrix per grid of ``STRAIN_GRIDS``."""
    rows = [strain_features(onsets[i], apexes[i]) for i in range(len(onsets))]
    return [np.stack([r[k] for r in rows]) for k in range(len(STRAIN_GRIDS))]


@dataclass
class BaselineResult:
    y_pred: list[int]
    scores: list[list[float]]  # class probabilities, one row per held-out clip
    c: float  # the chosen regularisation


_FITTED: dict[str, tuple[Any, float, float]] = {}  # a few recent fits, by digest of their inputs
_FITTED_KEEP = 32  # a LOSO run of 6 folds x 4 fits, refitted by eval: all kept (each is a few KB)


def fit_classifier(
    train_x: np.ndarray, train_y: np.ndarray, train_groups: Sequence[str], seed: int = 0
) -> tuple[Any, float]:
    """:func:`fit_classified` without its inner-CV score."""
    fitted, c, _ = fit_classified(train_x, train_y, train_groups, seed)
    return fitted, c


def fit_classified(
    train_x: np.ndarray, train_y: np.ndarray, train_groups: Sequence[str], seed: int = 0
) -> tuple[Any, float, float]:
    """(fitted StandardScaler + balanced LogisticRegression pipeline, its C, its inner-CV macro-F1), C
    chosen by macro-F1 in a grouped CV over the training subjects (score NaN where too few subjects).
    Needs two classes or more in ``train_y``.

    Without augmentation the model's prompt read-out is solved on exactly the probe's inputs, so a
    fit is remembered by a digest of its inputs (the fitted object is only read, never changed): on
    the 588-feature patch variant each identical grid search costs ~20 s per fold."""
    import hashlib

    digest = hashlib.sha1()
    for part in (
        np.ascontiguousarray(train_x, np.float64),
        np.asarray(train_y, np.int64),
        np.asarray(list(train_groups), str),
    ):
        digest.update(str(part.shape).encode())
        digest.update(part.tobytes())
    digest.update(str(seed).encode())
    key = digest.hexdigest()
    if key not in _FITTED:
        while len(_FITTED) >= _FITTED_KEEP:
            _FITTED.pop(next(iter(_FITTED)))
        from threadpoolctl import threadpool_limits

        # One BLAS thread: these are small matrices, and beside torch's OpenMP threads (still
        # spinning after a training step) multi-threaded BLAS calls slowed a 588-feature fit from
        # 19 s to several minutes in the --ablate grid.
        with threadpool_limits(limits=1):
            _FITTED[key] = _fit_classifier(train_x, train_y, train_groups, seed)
    return _FITTED[key]


def _fit_classifier(
    train_x: np.ndarray, train_y: np.ndarray, train_groups: Sequence[str], seed: int
) -> tuple[Any, float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x = np.asarray(train_x, np.float64).reshape(len(train_x), -1)
    pipeline = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=MAX_ITER, random_state=seed)
    )
    groups = np.asarray(train_groups)
    folds = min(CV_FOLDS, len(np.unique(groups)))
    if folds < 2:
        return pipeline.set_params(logisticregression__C=DEFAULT_C).fit(train_x, train_y), DEFAULT_C, float("nan")
    search = GridSearchCV(pipeline, {"logisticregression__C": list(C_GRID)}, scoring="f1_macro", cv=GroupKFold(folds))
    search.fit(train_x, train_y, groups=groups)
    return search.best_estimator_, float(search.best_params_["logisticregression__C"]), float(search.best_score_)


def fit_predict(
    train_x: np.ndarray,
    train_y: np.ndarray,
    train_groups: Sequence[str],
    eval_x: np.ndarray,
    num_classes: int,
    seed: int = 0,
) -> BaselineResult:
    """Fit standardise + balanced logistic regression on the training clips (C by grouped CV over
    training subjects), predict the held-out clips. Classes absent from training score 0."""
    eval_x = np.asarray(eval_x, np.float64).reshape(len(eval_x), -1)
    present = np.unique(train_y)
    if len(present) < 2:  # nothing to learn: predict the one class seen
        scores = np.zeros((len(eval_x), num_classes))
        scores[:, present[0] if len(present) else 0] = 1.0
        return BaselineResult(scores.argmax(1).tolist(), scores.tolist(), float("nan"))
    fitted, c = fit_classifier(train_x, train_y, train_groups, seed)
    return _predict(fitted, c, eval_x, num_classes)


def _predict(fitted: Any, c: float, eval_x: np.ndarray, num_classes: int) -> BaselineResult:
    scores = np.zeros((len(eval_x), num_classes))
    if len(eval_x):
        scores[:, fitted.classes_] = fitted.predict_proba(eval_x)
    return BaselineResult(scores.argmax(1).tolist() if len(eval_x) else [], np.round(scores, 6).tolist(), c)


class PairFeatures:
    """Features of every pair of a run, computed once and shared by its folds (and by the variants
    of ``--ablate``): the un-augmented motion prompts per motion config (the model's standardisation
    statistics and the probe's input) and the flow baseline's features."""

    def __init__(self, pairs: PairSet) -> None:
        self.pairs = pairs
        self._motion: dict[MotionConfig, np.ndarray] = {}
        self._flow: np.ndarray | None = None
        self._strain: list[np.ndarray] | None = None
        self._inputs: tuple[MotionConfig, np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _prompt_key(config: MotionConfig) -> MotionConfig:
        return replace(config, vit_input="apex")  # what the ViT sees does not change the prompts

    def motion(self, config: MotionConfig) -> np.ndarray:
        key = self._prompt_key(config)
        if key not in self._motion:
            self._motion[key] = motion_features(self.pairs, np.arange(len(self.pairs)), config)
        return self._motion[key]

    def inputs(self, config: MotionConfig) -> tuple[np.ndarray, np.ndarray]:
        """Un-augmented model inputs (ViT images, prompts) of every pair, for training without
        augmentation: computed once per config instead of once per batch and epoch. Only the latest
        config's images are kept (384 clips at 224 px are 230 MB)."""
        if self._inputs is None or self._inputs[0] != config:
            self._inputs = None  # free the previous config's images before making the next
            images, motion = encode_pairs(self.pairs, np.arange(len(self.pairs)), config)
            self._inputs = (config, images, motion)
            self._motion.setdefault(self._prompt_key(config), motion)
        return self._inputs[1], self._inputs[2]

    def flow(self) -> np.ndarray:
        if self._flow is None:
            self._flow = flow_matrix(self.pairs.onsets, self.pairs.apexes)
        return self._flow

    def strain(self) -> list[np.ndarray]:
        if self._strain is None:
            self._strain = strain_matrices(self.pairs.onsets, self.pairs.apexes)
        return self._strain

    def baselines(
        self, config: MotionConfig, train_idx: np.ndarray, eval_idx: np.ndarray, num_classes: int, seed: int
    ) -> dict[str, dict]:
        """Every baseline fitted on ``train_idx`` and scored on ``eval_idx``, as stored in result.json."""
        inputs = {"probe": self.motion(config), "flow": self.flow()}
        groups = [self.pairs.subjects[i] for i in train_idx]
        labels = self.pairs.labels[train_idx]
        out = {}
        for name in ("probe", "flow"):
            x = inputs[name]
            result = fit_predict(x[train_idx], labels, groups, x[eval_idx], num_classes, seed)
            out[name] = {"y_pred": result.y_pred, "scores": result.scores, "c": result.c}
        out["strain"] = _best_grid(self.strain(), train_idx, eval_idx, labels, groups, num_classes, seed)
        return out


def _best_grid(
    matrices: Sequence[np.ndarray],
    train_idx: np.ndarray,
    eval_idx: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str],
    num_classes: int,
    seed: int,
) -> dict[str, Any]:
    """The strain baseline: the grid (and C) with the best inner grouped-CV macro-F1 on the training
    subjects, then its prediction of the held-out clips."""
    if len(np.unique(labels)) < 2:
        result = fit_predict(matrices[0][train_idx], labels, groups, matrices[0][eval_idx], num_classes, seed)
        return {"y_pred": result.y_pred, "scores": result.scores, "c": result.c, "grid": STRAIN_GRIDS[0]}
    fits = [fit_classified(x[train_idx], labels, groups, seed) for x in matrices]
    best = max(range(len(fits)), key=lambda k: -1.0 if np.isnan(fits[k][2]) else fits[k][2])
    fitted, c, _ = fits[best]
    result = _predict(fitted, c, np.asarray(matrices[best][eval_idx], np.float64), num_classes)
    return {"y_pred": result.y_pred, "scores": result.scores, "c": result.c, "grid": STRAIN_GRIDS[best]}
