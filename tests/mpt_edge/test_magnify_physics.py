"""Physics of linear Eulerian magnification: a translation by delta comes out as (1 + alpha) * delta.

How the shift is measured, and why two instruments: cv2.phaseCorrelate's sub-pixel estimator (a 5x5
weighted centroid of the *phase-only* correlation) is itself biased by 20-90 % on pure sub-pixel shifts
of smooth textures (measured with opencv-python 4.14 and 5.0; see the issue #2 note). Phase-only
correlation weights every frequency equally, while linear magnification is only valid (Wu et al. 2012)
where (1 + alpha) * delta < wavelength / 8, i.e. for low frequencies. So:

* the absolute check uses energy-weighted phase correlation with DFT upsampling
  (skimage.registration.phase_cross_correlation, normalization=None) on the whole periodic frame,
  which reads pure Fourier shifts exactly (checked below);
* the cv2.phaseCorrelate check compares the magnified frame with a frame *truly* translated by
  (1 + alpha) * delta, read by the same instrument, so the instrument's own bias cancels.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import fourier_translate, smooth_texture
from skimage.registration import phase_cross_correlation

from mpt_edge.motion import magnify

DELTAS = (0.1, 0.25, 0.5)
ALPHAS = (2.0, 5.0, 10.0)


def energy_weighted_shift(reference: np.ndarray, moved: np.ndarray) -> float:
    ref = reference.astype(np.float64) - reference.mean()
    mov = moved.astype(np.float64) - moved.mean()
    shift, _, _ = phase_cross_correlation(mov, ref, upsample_factor=200, normalization=None)
    return float(shift[1])


_CROP = slice(32, 224)  # away from the pyramid's reflected borders
_WINDOW = cv2.createHanningWindow((192, 192), cv2.CV_64F)


def cv2_phase_shift(reference: np.ndarray, moved: np.ndarray) -> float:
    """cv2.phaseCorrelate as its docs advise for real images: zero-mean crops under a Hanning window."""
    ref = reference[_CROP, _CROP].astype(np.float64)
    mov = moved[_CROP, _CROP].astype(np.float64)
    (dx, _dy), _response = cv2.phaseCorrelate(ref - ref.mean(), mov - mov.mean(), _WINDOW)
    return float(dx)


# Correlation length ~17 px: the largest case, (1 + alpha) * delta = 5.5 px, stays in the linear regime.
TEXTURE = smooth_texture(sigma=12.0)


def test_instrument_reads_pure_shifts():
    for shift in (0.3, 1.1, 2.75, 5.5):
        assert energy_weighted_shift(TEXTURE, fourier_translate(TEXTURE, shift)) == pytest.approx(shift, abs=0.01)


@pytest.mark.parametrize("delta", DELTAS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_translation_is_magnified_by_one_plus_alpha(delta: float, alpha: float):
    magnified = magnify(TEXTURE, fourier_translate(TEXTURE, delta), alpha)
    measured = energy_weighted_shift(TEXTURE, magnified)
    assert measured == pytest.approx((1.0 + alpha) * delta, rel=0.15)


@pytest.mark.parametrize("delta", DELTAS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_cv2_phase_correlate_sees_the_same_shift_as_a_true_translation(delta: float, alpha: float):
    magnified = magnify(TEXTURE, fourier_translate(TEXTURE, delta), alpha)
    truly_moved = fourier_translate(TEXTURE, (1.0 + alpha) * delta)
    assert cv2_phase_shift(TEXTURE, magnified) == pytest.approx(cv2_phase_shift(TEXTURE, truly_moved), rel=0.15)


def test_alpha_zero_returns_apex_unchanged(texture):
    apex = fourier_translate(texture, 0.3)
    np.testing.assert_array_equal(magnify(texture, apex, 0.0), apex)
    apex_u8 = (apex * 255).astype(np.uint8)
    np.testing.assert_array_equal(magnify((texture * 255).astype(np.uint8), apex_u8, 0.0), apex_u8 / np.float32(255))


def test_identical_frames_are_left_alone(texture):
    np.testing.assert_allclose(magnify(texture, texture, 10.0), texture, atol=1e-6)


def test_colour_channels_are_magnified_like_gray(texture):
    apex = fourier_translate(texture, 0.25)
    colour = magnify(np.dstack([texture] * 3), np.dstack([apex] * 3), 5.0)
    gray = magnify(texture, apex, 5.0)
    for channel in range(3):
        np.testing.assert_allclose(colour[..., channel], gray, atol=1e-5)
