"""Gaussian tokenization: magnified onset->apex motion -> (tokens, features) motion prompts.

``token_grid``² isotropic Gaussian kernels (sigma = ``sigma_patches`` x patch size) sit on a regular
grid over the face. Under each kernel we pool a Gaussian-windowed Lucas-Kanade system built from
I = onset, J = magnified apex, I_t = J - I and the spatial gradients of (I + J) / 2:

* ``flow_x, flow_y``: the 2x2 solve ``(S + eps I) u = -b`` with S the windowed structure tensor and
  b = (<I_x I_t>, <I_y I_t>): the magnified displacement in pixels;
* ``normal_flow_x/y``: ``-<I_x I_t> / (<I_x^2> + eps)`` etc., robust where S is nearly singular;
* ``mean_diff``, ``mean_abs_diff``: signed and absolute windowed mean of I_t.

Every feature is zero for identical frames. The torch model projects these F numbers per token to the
ViT width (DESIGN §1); this function is the single definition the runtime and the training data use.

Why it is fast: a 2-D Gaussian kernel is separable, so pooling all product images under all kernels
is two small matrix products, ``A @ X @ B.T`` with A (grid x H), B (grid x W).
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np

from mpt_edge.motion.config import MotionConfig
from mpt_edge.motion.images import as_float_pair, to_gray
from mpt_edge.motion.magnify import magnify_validated

_NUM_MOMENTS = 7
_thread_state = threading.local()


def _workspace(shape: tuple[int, ...]) -> np.ndarray:
    """Per-thread scratch buffer for the moment images: fresh multi-MB arrays on every call cost more
    (page faults) than the arithmetic itself. Its contents never outlive one call."""
    buffer = getattr(_thread_state, "products", None)
    if buffer is None or buffer.shape != shape:
        buffer = np.empty(shape, np.float32)
        _thread_state.products = buffer
    return buffer


@lru_cache(maxsize=32)
def gaussian_pooling_matrix(length: int, grid: int, sigma: float) -> np.ndarray:
    """(grid, length) weights: row i is a Gaussian centred on cell i, normalised to sum 1."""
    centres = (np.arange(grid, dtype=np.float64) + 0.5) * (length / grid)
    positions = np.arange(length, dtype=np.float64) + 0.5
    weights = np.exp(-0.5 * ((positions[None, :] - centres[:, None]) / sigma) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    weights.setflags(write=False)
    return weights.astype(np.float32)


def token_pooling(config: MotionConfig, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) pooling matrices of the token kernels for an H x W image (sigma scales with it)."""
    rows = gaussian_pooling_matrix(height, config.token_grid, config.sigma_px * height / config.face_size)
    cols = gaussian_pooling_matrix(width, config.token_grid, config.sigma_px * width / config.face_size)
    return rows, cols


def gaussian_pool(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(C, H, W) images -> (C, len(rows), len(cols)): ``rows @ X @ cols.T`` per channel. Columns
    first as one (C*H x W) @ (W x g) BLAS call, then rows on the small result."""
    channels, height, width = images.shape
    pooled_cols = (images.reshape(-1, width) @ cols.T).reshape(channels, height, -1)
    return np.asarray(rows @ pooled_cols)


def token_centres(config: MotionConfig, height: int | None = None, width: int | None = None) -> np.ndarray:
    """(tokens, 2) x, y centre of every kernel in pixels, in token order (row-major)."""
    height = height or config.face_size
    width = width or config.face_size
    ys = (np.arange(config.token_grid) + 0.5) * (height / config.token_grid)
    xs = (np.arange(config.token_grid) + 0.5) * (width / config.token_grid)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)


def gaussian_tokenize(onset: np.ndarray, magnified: np.ndarray, config: MotionConfig | None = None) -> np.ndarray:
    """Motion features of one pair: float32 array of shape ``config.token_shape``.

    ``onset`` and ``magnified`` are the (aligned) onset frame and magnified apex, any size (the
    kernel spacing and sigma scale with the image relative to ``config.face_size``).
    """
    onset_f, magnified_f = as_float_pair(onset, magnified)
    return _tokenize_validated(onset_f, magnified_f, config or MotionConfig())


def _tokenize_validated(onset_f: np.ndarray, magnified_f: np.ndarray, config: MotionConfig) -> np.ndarray:
    """:func:`gaussian_tokenize` on frames :func:`as_float_pair` already checked and converted."""
    i0 = to_gray(onset_f)
    i1 = to_gray(magnified_f)
    height, width = i0.shape
    temporal = i1 - i0
    mean_frame = 0.5 * (i0 + i1)
    grad_x = cv2.Sobel(mean_frame, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    grad_y = cv2.Sobel(mean_frame, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    products = _workspace((_NUM_MOMENTS, height, width))
    np.multiply(grad_x, grad_x, out=products[0])
    np.multiply(grad_y, grad_y, out=products[1])
    np.multiply(grad_x, grad_y, out=products[2])
    np.multiply(grad_x, temporal, out=products[3])
    np.multiply(grad_y, temporal, out=products[4])
    products[5] = temporal
    np.abs(temporal, out=products[6])
    pooled = gaussian_pool(products, *token_pooling(config, height, width)).reshape(_NUM_MOMENTS, -1)
    sxx, syy, sxy, sxt, syt, mean_diff, mean_abs = pooled
    return _features_from_moments(sxx, syy, sxy, sxt, syt, mean_diff, mean_abs, config.flow_eps)


def _features_from_moments(
    sxx: np.ndarray,
    syy: np.ndarray,
    sxy: np.ndarray,
    sxt: np.ndarray,
    syt: np.ndarray,
    mean_diff: np.ndarray,
    mean_abs: np.ndarray,
    eps: float,
) -> np.ndarray:
    a, d = sxx + eps, syy + eps
    det = a * d - sxy * sxy
    flow_x = (-d * sxt + sxy * syt) / det
    flow_y = (sxy * sxt - a * syt) / det
    features = np.stack([flow_x, flow_y, -sxt / a, -syt / d, mean_diff, mean_abs], axis=1)
    return features.astype(np.float32)


def motion_inputs(
    onset: np.ndarray, apex: np.ndarray, config: MotionConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Onset/apex pair -> (magnified apex, float32 0..1 unclipped; motion prompt features): magnify,
    then tokenize with ``config.prompt_variant``. The magnified apex is returned because the ViT may
    see it (``vit_input="magnified"``)."""
    config = config or MotionConfig()
    onset_f, apex_f = as_float_pair(onset, apex)  # once: not again inside magnify and tokenize
    magnified = magnify_validated(
        onset_f, apex_f, config.alpha, config.pyramid_levels, config.finest_level_gain, config.lowpass_gain
    )
    if config.prompt_variant == "lk":
        return magnified, _tokenize_validated(onset_f, magnified, config)
    from mpt_edge.motion.prompt_variants import flow_tokens, patch_tokens, strain_tokens

    tokenizer = {"patch": patch_tokens, "flow": flow_tokens, "strain": strain_tokens}[config.prompt_variant]
    return magnified, tokenizer(to_gray(onset_f), to_gray(magnified), config)


def motion_prompts(onset: np.ndarray, apex: np.ndarray, config: MotionConfig | None = None) -> np.ndarray:
    """Onset/apex pair -> motion prompt features of shape ``config.token_shape``: magnify, then
    tokenize. The one definition for training data, calibration data and the streaming runtime."""
    return motion_inputs(onset, apex, config)[1]
