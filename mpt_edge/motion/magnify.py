"""Two-frame linear Eulerian motion magnification (onset -> apex), vectorised with OpenCV pyramids.

Per Laplacian band k of the frame difference d = apex - onset:
``magnified = onset + sum_k (1 + a_k) * band_k(d) = apex + sum_k a_k * band_k(d)``
with a_k = alpha except the finest band (alpha * finest_level_gain: the finest band is mostly sensor
noise, which linear magnification would blow up) and the low-pass residual (alpha * lowpass_gain).

Why it is fast: the Laplacian pyramid is linear, so only the *difference* needs a pyramid (not
both frames), and the weighted collapse ``r_k = a_k G_k + up(r_{k+1} - a_k G_{k+1})`` needs one
``pyrUp`` per level. For a translation by delta << wavelength, the output is the onset translated by
(1 + alpha) * delta (first-order Taylor argument of Wu et al. 2012), which the tests check.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from mpt_edge.motion.config import DEFAULT_ALPHA, MotionConfig
from mpt_edge.motion.images import as_float_pair, check_alpha


class Magnifier(Protocol):
    """Anything that magnifies the onset->apex motion: the linear Eulerian one here, or a learned
    two-frame magnifier (Oh et al. 2018) later. Inputs/outputs are float32 on the 0..1 scale."""

    def __call__(self, onset: np.ndarray, apex: np.ndarray, alpha: float) -> np.ndarray: ...


def max_pyramid_levels(height: int, width: int) -> int:
    """Levels that fit: the coarsest level keeps at least 4 px on its short side."""
    return max(1, int(np.floor(np.log2(min(height, width) / 4.0))))


def level_gains(alpha: float, levels: int, finest_level_gain: float, lowpass_gain: float) -> list[float]:
    """Gain of each Laplacian band, finest first, then the low-pass residual."""
    gains = [alpha] * levels + [alpha * lowpass_gain]
    gains[0] = alpha * finest_level_gain
    return gains


def magnify(
    onset: np.ndarray,
    apex: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    *,
    levels: int = 4,
    finest_level_gain: float = 0.25,
    lowpass_gain: float = 1.0,
) -> np.ndarray:
    """Magnify the motion from ``onset`` to ``apex`` by ``alpha``; returns the magnified apex.

    Accepts gray or BGR, uint8/uint16/float (0..1); returns float32 on the 0..1 scale, unclipped
    (clipping would bias the motion map). ``alpha == 0`` returns the apex unchanged.
    """
    onset_f, apex_f = as_float_pair(onset, apex)
    return magnify_validated(onset_f, apex_f, check_alpha(alpha), levels, finest_level_gain, lowpass_gain)


def magnify_validated(
    onset_f: np.ndarray, apex_f: np.ndarray, alpha: float, levels: int, finest_level_gain: float, lowpass_gain: float
) -> np.ndarray:
    """:func:`magnify` on frames that :func:`as_float_pair` already checked and converted, so a caller
    that also tokenizes (the per-frame hot path) validates and converts each frame once."""
    if alpha == 0.0:
        return np.asarray(apex_f.copy())
    levels = min(levels, max_pyramid_levels(*onset_f.shape[:2]))
    gains = level_gains(alpha, levels, finest_level_gain, lowpass_gain)
    return np.asarray(apex_f + _weighted_bands(apex_f - onset_f, gains))


def _weighted_bands(diff: np.ndarray, gains: list[float]) -> np.ndarray:
    """sum_k gains[k] * band_k(diff) + gains[-1] * residual(diff), via one pyrUp per level."""
    gaussian = [diff]
    for _ in range(len(gains) - 1):
        gaussian.append(cv2.pyrDown(gaussian[-1]))
    result = gains[-1] * gaussian[-1]
    for k in range(len(gains) - 2, -1, -1):
        height, width = gaussian[k].shape[:2]
        result = gains[k] * gaussian[k] + cv2.pyrUp(result - gains[k] * gaussian[k + 1], dstsize=(width, height))
    return result


class LinearEulerianMagnifier:
    """The default :class:`Magnifier`, configured from a :class:`MotionConfig`."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config

    def __call__(self, onset: np.ndarray, apex: np.ndarray, alpha: float | None = None) -> np.ndarray:
        cfg = self.config
        return magnify(
            onset,
            apex,
            cfg.alpha if alpha is None else alpha,
            levels=cfg.pyramid_levels,
            finest_level_gain=cfg.finest_level_gain,
            lowpass_gain=cfg.lowpass_gain,
        )
