"""Validation and conversion of frames to the float32 0..1 working format of the motion code."""

from __future__ import annotations

import numpy as np

from mpt_edge.errors import InputError

_INTEGER_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_FLOAT_DTYPES = {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)}


def as_float_image(image: object, name: str = "image") -> np.ndarray:
    """Return ``image`` as float32 on the 0..1 scale, HxW or HxWx3 (BGR, OpenCV order).

    uint8/uint16 are rescaled; float input is taken to be on the 0..1 scale already.
    Raises :class:`InputError` naming ``name`` for anything that would give silent garbage.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise InputError(f"{name} is empty (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise InputError(f"{name} has shape {image.shape}; expected HxW (gray) or HxWx3 (BGR)")
    if min(image.shape[:2]) < 8:
        raise InputError(f"{name} is {image.shape[1]}x{image.shape[0]} px; need at least 8x8")
    dtype = image.dtype
    if dtype in _INTEGER_SCALE:
        return np.asarray(image.astype(np.float32) / np.float32(_INTEGER_SCALE[dtype]))
    if dtype in _FLOAT_DTYPES:
        out = image.astype(np.float32, copy=False)
        if not np.isfinite(out).all():
            raise InputError(f"{name} contains NaN or infinite values")
        return out
    raise InputError(f"{name} has dtype {dtype}; expected uint8, uint16 or float (0..1 scale)")


def as_float_pair(onset: object, apex: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate an onset/apex pair: both valid images of identical shape."""
    onset_f = as_float_image(onset, "onset frame")
    apex_f = as_float_image(apex, "apex frame")
    if onset_f.shape != apex_f.shape:
        raise InputError(
            f"onset frame {onset_f.shape} and apex frame {apex_f.shape} differ in size; "
            "crop both to the same face box first"
        )
    return onset_f, apex_f


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma of a float32 BGR image (or the image itself if already gray)."""
    if image.ndim == 2:
        return image
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


MAX_ALPHA = 100.0  # the paper ablates 2..20; past 100 a pixel's motion leaves the face


def check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not np.isfinite(alpha) or not 0 <= alpha <= MAX_ALPHA:
        raise InputError(f"magnification factor alpha={alpha} is invalid; use a value in 0..{MAX_ALPHA:g}")
    return alpha
