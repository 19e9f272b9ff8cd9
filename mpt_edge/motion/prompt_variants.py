"""The two alternatives to Lucas-Kanade moments for turning a Gaussian window of motion into a prompt
token (``MotionConfig.prompt_variant``; ``lk`` lives in :mod:`mpt_edge.motion.tokenize`).

* ``patch`` — motion-map tokens: under each token's Gaussian window the motion map is kept as a small
  ``patch_cells`` x ``patch_cells`` patch instead of being reduced to six numbers, so the model sees
  the *shape* of the motion (a lip corner pulled up vs down). Channels per cell: the magnified
  difference D = J - I, and the cell's normal flow -<I_x D> / (<I_x²> + eps), -<I_y D> / (<I_y²> + eps)
  (its sign is the direction of motion; D alone flips sign with the texture, and the unnormalised
  I_x·D follows each face's texture contrast: that first form scored a linear probe of 0.46-0.62 on the
  hard preset). Each cell is a small Gaussian average, the cells of one token are weighted by the
  token's Gaussian envelope. The model's per-token projection embeds the ``3 * patch_cells**2`` numbers.
* ``flow`` — dense optical flow onset -> magnified apex (OpenCV DIS, medium preset, on 8-bit gray:
  DIS takes 8-bit images; 1/255 quantisation is far below the sensor noise), pooled by the same
  Gaussian windows: mean flow x, y and mean flow magnitude per token.

Both are separable Gaussian poolings, so each is two small matrix products like the LK moments.
"""

from __future__ import annotations

import threading
from typing import cast

import cv2
import numpy as np

from mpt_edge.motion.config import MotionConfig
from mpt_edge.motion.tokenize import gaussian_pool, gaussian_pooling_matrix, token_pooling

_local = threading.local()


def _envelope(length: int, grid: int, cells: int, sigma: float) -> np.ndarray:
    """(grid * cells,) weight of every fine cell: the Gaussian of its distance to its token's centre."""
    token = length / grid
    fine = token / cells
    centres = (np.arange(grid * cells) + 0.5) * fine
    owners = (np.arange(grid * cells) // cells + 0.5) * token
    return np.exp(-0.5 * ((centres - owners) / sigma) ** 2).astype(np.float32)


def patch_tokens(i0: np.ndarray, i1: np.ndarray, config: MotionConfig) -> np.ndarray:
    """(K, 3 * cells²) motion-map patches of gray onset ``i0`` and magnified apex ``i1`` (float 0..1)."""
    height, width = i0.shape
    grid, cells = config.token_grid, config.patch_cells
    diff = i1 - i0
    mean_frame = 0.5 * (i0 + i1)
    grad_x = cv2.Sobel(mean_frame, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    grad_y = cv2.Sobel(mean_frame, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    moments = np.stack([diff, grad_x * diff, grad_y * diff, grad_x * grad_x, grad_y * grad_y])
    fine_rows = gaussian_pooling_matrix(height, grid * cells, 0.5 * height / (grid * cells))
    fine_cols = gaussian_pooling_matrix(width, grid * cells, 0.5 * width / (grid * cells))
    sd, sxt, syt, sxx, syy = gaussian_pool(moments, fine_rows, fine_cols)  # each (grid*cells, grid*cells)
    eps = config.flow_eps
    pooled = np.stack([sd, -sxt / (sxx + eps), -syt / (syy + eps)])  # per-cell normal flow: texture-free
    scale = config.sigma_px / config.face_size
    pooled *= _envelope(height, grid, cells, scale * height)[None, :, None]
    pooled *= _envelope(width, grid, cells, scale * width)[None, None, :]
    tokens = pooled.reshape(3, grid, cells, grid, cells).transpose(1, 3, 0, 2, 4)  # (gy, gx, C, cy, cx)
    return np.ascontiguousarray(tokens.reshape(grid * grid, -1), dtype=np.float32)


def _dis() -> cv2.DISOpticalFlow:
    """One DIS instance per thread (it is stateful and not thread-safe)."""
    dis = getattr(_local, "dis", None)
    if dis is None:
        dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        _local.dis = dis
    return cast(cv2.DISOpticalFlow, dis)


def _to_u8(gray: np.ndarray) -> np.ndarray:
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


def flow_tokens(i0: np.ndarray, i1: np.ndarray, config: MotionConfig) -> np.ndarray:
    """(K, 3) Gaussian-pooled dense flow (x, y, magnitude) in face-crop pixels, onset -> magnified apex."""
    height, width = i0.shape
    flow = _dis().calc(_to_u8(i0), _to_u8(i1), None)  # type: ignore[call-overload]  # stubs want a Mat for flow=None
    magnitude = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    channels = np.stack([flow[..., 0], flow[..., 1], magnitude])
    pooled = gaussian_pool(channels, *token_pooling(config, height, width))  # (3, grid, grid)
    return np.ascontiguousarray(pooled.reshape(3, -1).T, dtype=np.float32)
