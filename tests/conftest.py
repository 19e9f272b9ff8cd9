"""Shared fixtures: textured frames with known sub-pixel motion."""

from __future__ import annotations

import os
from pathlib import Path

# The face models (`mpt-edge faces install`, run by .ci/run before the tests) stay findable when a test
# points XDG_CACHE_HOME at a temporary folder.
os.environ.setdefault("MPT_EDGE_FACE_MODELS", str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mpt-edge" / "face-models"))


import numpy as np
import pytest
from scipy.ndimage import fourier_shift, gaussian_filter


def smooth_texture(size: int = 256, sigma: float = 8.0, seed: int = 0) -> np.ndarray:
    """Periodic band-limited noise on the 0..1 scale: exact Fourier shifts apply to it."""
    rng = np.random.default_rng(seed)
    tex = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return ((tex - tex.min()) / (tex.max() - tex.min())).astype(np.float32)


def fourier_translate(image: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """Exact sub-pixel translation of a periodic image (no interpolation blur)."""
    return np.real(np.fft.ifft2(fourier_shift(np.fft.fft2(image), (dy, dx)))).astype(np.float32)


@pytest.fixture(scope="session")
def texture() -> np.ndarray:
    return smooth_texture()
