"""Gaussian tokenization of the lk prompts: shapes, determinism, locality, zero motion, the slow reference."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fourier_translate, smooth_texture

from mpt_edge.motion import FEATURE_NAMES, MotionConfig, gaussian_tokenize, magnify, motion_prompts, token_centres
from mpt_edge.motion.reference import reference_magnify, reference_tokenize

ENERGY = FEATURE_NAMES.index("mean_abs_diff")


def face_pair(size: int = 224, region: tuple[slice, slice] | None = None, dx: float = 0.4, seed: int = 1):
    """Onset + apex where only `region` moves (by dx px); elsewhere apex == onset."""
    onset = smooth_texture(size, sigma=3.0, seed=seed)
    apex = onset.copy()
    if region is not None:
        apex[region] = fourier_translate(onset, dx)[region]
    return onset, apex


def test_shapes_follow_the_config():
    onset, apex = face_pair(region=(slice(0, 112), slice(0, 112)))
    for grid in (1, 4, 7, 14):
        config = MotionConfig(prompt_variant="lk", token_grid=grid)
        features = motion_prompts(onset, apex, config)
        assert features.shape == config.token_shape == (grid * grid, len(FEATURE_NAMES))
        assert features.dtype == np.float32
        assert token_centres(config).shape == (grid * grid, 2)


def test_deterministic():
    onset, apex = face_pair(region=(slice(60, 160), slice(60, 160)))
    first = motion_prompts(onset, apex)
    for _ in range(3):
        np.testing.assert_array_equal(motion_prompts(onset.copy(), apex.copy()), first)


def test_identical_frames_give_zero_motion_features():
    onset, _ = face_pair()
    for frame in (onset, (onset * 255).astype(np.uint8), np.dstack([onset] * 3)):
        np.testing.assert_array_equal(motion_prompts(frame, frame.copy()), 0.0)


def test_motion_in_one_region_lights_up_only_the_tokens_covering_it():
    # Lower-right 64x64 px ("mouth corner") moves; the kernel grid is 7x7 with 32 px spacing.
    region = (slice(160, 224), slice(160, 224))
    onset, apex = face_pair(region=region)
    config = MotionConfig(prompt_variant="lk")
    energy = motion_prompts(onset, apex, config)[:, ENERGY].reshape(config.token_grid, config.token_grid)
    inside = energy[5:, 5:]  # token centres at 176 and 208 px
    far = energy[:3, :]  # centres at 16..80 px rows: > 2.5 sigma from the region
    assert inside.min() > 0
    assert far.max() < 1e-3 * inside.max()
    assert np.unravel_index(np.argmax(energy), energy.shape)[0] >= 5


def test_flow_recovers_direction_and_magnified_size():
    onset = smooth_texture(224, sigma=6.0)
    for dx in (-0.3, 0.3):
        apex = fourier_translate(onset, dx)
        features = motion_prompts(onset, apex, MotionConfig(prompt_variant="lk", alpha=4.0))
        interior = features.reshape(7, 7, -1)[2:5, 2:5].reshape(-1, len(FEATURE_NAMES))
        flow_x = np.median(interior[:, FEATURE_NAMES.index("flow_x")])
        assert np.sign(flow_x) == np.sign(dx)
        assert abs(flow_x) == pytest.approx(5.0 * abs(dx), rel=0.3)
        assert abs(np.median(interior[:, FEATURE_NAMES.index("flow_y")])) < 0.2 * abs(flow_x)


@pytest.mark.parametrize("shape", [(224, 224), (224, 224, 3), (96, 128)])
def test_fast_path_matches_reference_implementation(shape):
    rng = np.random.default_rng(0)
    onset = rng.random(shape).astype(np.float32)
    apex = (onset + 0.02 * rng.standard_normal(shape)).astype(np.float32)
    fast = magnify(onset, apex, 8.0)
    np.testing.assert_allclose(fast, reference_magnify(onset, apex, 8.0), atol=1e-5)
    config = MotionConfig(prompt_variant="lk")
    np.testing.assert_allclose(
        gaussian_tokenize(onset, fast, config), reference_tokenize(onset, fast, config), atol=1e-6
    )
