"""The alternatives to Lucas-Kanade moments for turning a Gaussian window of motion into a prompt
token (``MotionConfig.prompt_variant``; ``lk`` lives in :mod:`mpt_edge.motion.tokenize`).

* ``strain`` (the default) — the field's input (STSTNet, HTNet, every MEGC leader): dense optical flow
  onset -> magnified apex with the face's own global motion removed (a robust affine fit: the head
  moves every region, an expression a few), its magnitude and its optical strain, pooled by the
  Gaussian windows (4 numbers per token). Chosen by measurement on the *training* people of the
  real-face preset (linear probe, grouped CV; ``benchmarks/prompt_features.py``): 0.75-0.78 UF1 against
  0.46 for ``lk`` and 0.67 for ``flow``; Farneback beat DIS (medium, or fine) once magnified; 14 x 14
  windows or 16 x 16 cells read 0.81-0.82 but quadruple the tokens, within the estimate's noise (+-0.04).

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


def _to_u8(gray: np.ndarray) -> np.ndarray:
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


def flow_tokens(i0: np.ndarray, i1: np.ndarray, config: MotionConfig) -> np.ndarray:
    """(K, 3) Gaussian-pooled dense flow (x, y, magnitude) in face-crop pixels, onset -> magnified apex."""
    height, width = i0.shape
    flow = dense_flow(_to_u8(i0), _to_u8(i1), "dis-medium")
    magnitude = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    channels = np.stack([flow[..., 0], flow[..., 1], magnitude])
    pooled = gaussian_pool(channels, *token_pooling(config, height, width))  # (3, grid, grid)
    return np.ascontiguousarray(pooled.reshape(3, -1).T, dtype=np.float32)


#: Dense flow algorithms the ``strain`` variant may use (chosen by measurement: docs "Motion prompt variants").
FLOW_METHODS: tuple[str, ...] = ("dis-medium", "dis-fine", "farneback")
STRAIN_FLOW_METHOD = "farneback"
_GLOBAL_FIT_STEP = 8  # px of the 224-px face between the points the global motion is fitted on


def dense_flow(i0: np.ndarray, i1: np.ndarray, method: str = STRAIN_FLOW_METHOD) -> np.ndarray:
    """(H, W, 2) optical flow from 8-bit gray ``i0`` to ``i1`` in pixels, by ``method``. Identical frames
    have no motion (Farneback would report up to 0.1 px of it at the borders)."""
    if np.array_equal(i0, i1):
        return np.zeros((*i0.shape, 2), np.float32)
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]  # stubs want a Mat for flow=None
            i0, i1, None, pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
        )
        return np.asarray(flow, np.float32)
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}")
    key = f"dis_{method}"
    dis = getattr(_local, key, None)  # one DIS instance per thread and method: it is stateful, not thread-safe
    if dis is None:
        dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        if method == "dis-fine":  # the medium preset down to full resolution (it stops at half by default)
            dis.setFinestScale(0)
        setattr(_local, key, dis)
    return np.asarray(dis.calc(i0, i1, None), np.float32)  # type: ignore[call-overload]  # stubs want a Mat for None


def remove_global_motion(flow: np.ndarray) -> np.ndarray:
    """``flow`` minus the affine motion of the whole face (head turn, nod, scale), fitted robustly
    (RANSAC, OpenCV's fixed seed: deterministic) on a grid of points: an expression moves a few
    regions, the head moves all of them, so the inliers are the head and the residual the expression."""
    height, width = flow.shape[:2]
    step = max(1, round(_GLOBAL_FIT_STEP * height / 224))
    ys, xs = np.mgrid[step // 2 : height : step, step // 2 : width : step]
    source = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    target = source + flow[ys.ravel(), xs.ravel()]
    matrix, _ = cv2.estimateAffine2D(source, target, method=cv2.RANSAC, ransacReprojThreshold=0.5)
    if matrix is None:  # degenerate (e.g. a blank image): nothing global to remove
        return flow
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    global_x = matrix[0, 0] * grid_x + matrix[0, 1] * grid_y + matrix[0, 2] - grid_x
    global_y = matrix[1, 0] * grid_x + matrix[1, 1] * grid_y + matrix[1, 2] - grid_y
    return np.stack([flow[..., 0] - global_x, flow[..., 1] - global_y], axis=-1).astype(np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """(H, W) optical strain magnitude sqrt(e_xx² + e_yy² + 2 e_xy²) of a flow field: how much the skin
    stretches or compresses — large where muscles act, zero under any rigid shift (STSTNet, HTNet)."""
    u, v = np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])
    u_x = cv2.Sobel(u, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    u_y = cv2.Sobel(u, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    v_x = cv2.Sobel(v, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    v_y = cv2.Sobel(v, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    e_xy = 0.5 * (u_y + v_x)
    return np.asarray(np.sqrt(u_x * u_x + v_y * v_y + 2.0 * e_xy * e_xy), np.float32)


def strain_channels(i0: np.ndarray, i1: np.ndarray, method: str = STRAIN_FLOW_METHOD) -> np.ndarray:
    """(4, H, W) the field's motion between gray ``i0`` and ``i1`` (float 0..1): dense flow with the
    face's global motion removed (x, y), its magnitude, and the optical strain."""
    flow = remove_global_motion(dense_flow(_to_u8(i0), _to_u8(i1), method))
    magnitude = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
    return np.stack([flow[..., 0], flow[..., 1], magnitude, optical_strain(flow)])


def strain_tokens(i0: np.ndarray, i1: np.ndarray, config: MotionConfig) -> np.ndarray:
    """(K, 4) :func:`strain_channels` onset -> magnified apex, pooled by the Gaussian windows."""
    height, width = i0.shape
    channels = strain_channels(i0, i1)
    pooled = gaussian_pool(channels, *token_pooling(config, height, width))  # (4, grid, grid)
    return np.ascontiguousarray(pooled.reshape(4, -1).T, dtype=np.float32)
