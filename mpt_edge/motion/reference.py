"""Slow, obviously-correct reference of magnification + tokenization (numpy/scipy, loops per level and
per kernel). Tests check the fast path against it; ``benchmarks/bench_motion.py`` times both.
Not used at run time; needs scipy (the ``dev`` extra)."""

from __future__ import annotations

import numpy as np

from mpt_edge.motion.config import MotionConfig
from mpt_edge.motion.images import as_float_pair, to_gray
from mpt_edge.motion.magnify import level_gains, max_pyramid_levels

# OpenCV's pyrDown/pyrUp 5-tap binomial kernel.
_KERNEL = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16.0


def _blur(image: np.ndarray) -> np.ndarray:
    from scipy.ndimage import convolve1d

    out = convolve1d(image, _KERNEL, axis=0, mode="mirror")
    return np.asarray(convolve1d(out, _KERNEL, axis=1, mode="mirror"))


def _down(image: np.ndarray) -> np.ndarray:
    return _blur(image)[::2, ::2]


def _up(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    up = np.zeros(shape, dtype=np.float64)
    up[::2, ::2] = image[: (shape[0] + 1) // 2, : (shape[1] + 1) // 2]
    return 4.0 * _blur(up)


def _laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    gaussian = [image]
    for _ in range(levels):
        gaussian.append(_down(gaussian[-1]))
    bands = [gaussian[k] - _up(gaussian[k + 1], gaussian[k].shape) for k in range(levels)]
    return bands + [gaussian[-1]]


def _collapse(pyramid: list[np.ndarray]) -> np.ndarray:
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = band + _up(image, band.shape)
    return image


def reference_magnify(
    onset: np.ndarray,
    apex: np.ndarray,
    alpha: float,
    levels: int = 4,
    finest_level_gain: float = 0.25,
    lowpass_gain: float = 1.0,
) -> np.ndarray:
    """Textbook form: pyramids of both frames, per level ``onset + (1 + a_k)(apex - onset)``, collapse."""
    onset_f, apex_f = (x.astype(np.float64) for x in as_float_pair(onset, apex))
    levels = min(levels, max_pyramid_levels(*onset_f.shape[:2]))
    gains = level_gains(alpha, levels, finest_level_gain, lowpass_gain)
    channels = [onset_f[..., None], apex_f[..., None]] if onset_f.ndim == 2 else [onset_f, apex_f]
    out = []
    for c in range(channels[0].shape[2]):
        p0 = _laplacian_pyramid(channels[0][..., c], levels)
        p1 = _laplacian_pyramid(channels[1][..., c], levels)
        out.append(_collapse([b0 + (1.0 + g) * (b1 - b0) for b0, b1, g in zip(p0, p1, gains)]))
    result = np.stack(out, axis=-1)
    return (result[..., 0] if onset_f.ndim == 2 else result).astype(np.float32)


def reference_tokenize(onset: np.ndarray, magnified: np.ndarray, config: MotionConfig) -> np.ndarray:
    """Per-kernel loop with full 2-D Gaussian windows and scipy Sobel derivatives of the mean frame."""
    from scipy.ndimage import sobel

    i0, i1 = (to_gray(x).astype(np.float64) for x in as_float_pair(onset, magnified))
    height, width = i0.shape
    temporal = i1 - i0
    mean = 0.5 * (i0 + i1)
    gx = sobel(mean, axis=1, mode="mirror") / 8.0
    gy = sobel(mean, axis=0, mode="mirror") / 8.0
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    grid = config.token_grid
    rows = []
    for i in range(grid):
        for j in range(grid):
            cy, cx = (i + 0.5) * height / grid, (j + 0.5) * width / grid
            sy, sx = config.sigma_px * height / config.face_size, config.sigma_px * width / config.face_size
            wy = np.exp(-0.5 * ((ys[:, 0] - cy) / sy) ** 2)
            wx = np.exp(-0.5 * ((xs[0] - cx) / sx) ** 2)
            w = np.outer(wy / wy.sum(), wx / wx.sum())
            sxx, syy, sxy = (w * gx * gx).sum(), (w * gy * gy).sum(), (w * gx * gy).sum()
            sxt, syt = (w * gx * temporal).sum(), (w * gy * temporal).sum()
            mat = np.array([[sxx + config.flow_eps, sxy], [sxy, syy + config.flow_eps]])
            flow = np.linalg.solve(mat, -np.array([sxt, syt]))
            rows.append(
                [
                    flow[0],
                    flow[1],
                    -sxt / (sxx + config.flow_eps),
                    -syt / (syy + config.flow_eps),
                    (w * temporal).sum(),
                    (w * np.abs(temporal)).sum(),
                ]
            )
    return np.asarray(rows, dtype=np.float32)
