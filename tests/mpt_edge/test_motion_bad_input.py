"""Bad input to the motion code: each a clear ValueError naming the problem, never silent garbage."""

from __future__ import annotations

import numpy as np
import pytest

from mpt_edge.errors import InputError
from mpt_edge.motion import MotionConfig, gaussian_tokenize, magnify, motion_prompts

GOOD = np.full((64, 64), 0.5, np.float32)


@pytest.mark.parametrize("func", [magnify, gaussian_tokenize, motion_prompts])
@pytest.mark.parametrize(
    "onset, apex, message",
    [
        (GOOD, np.zeros((64, 48), np.float32), "differ in size"),
        (np.zeros((0, 64), np.float32), GOOD, "empty"),
        (GOOD.astype(np.int64), GOOD, "dtype int64"),
        (GOOD.astype(bool), GOOD, "dtype bool"),
        (GOOD, np.where(np.eye(64, dtype=bool), np.nan, 0.5).astype(np.float32), "NaN"),
        (GOOD, np.full((64, 64), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((64, 64, 4), np.float32), GOOD, "expected HxW"),
        (np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), "at least 8x8"),
        ([[0.5]], GOOD, "numpy array"),
    ],
)
def test_bad_frames_raise_value_error(func, onset, apex, message):
    with pytest.raises(ValueError, match=message):
        func(onset, apex)


@pytest.mark.parametrize("alpha", [-1.0, float("nan"), float("inf")])
def test_bad_alpha(alpha):
    with pytest.raises(InputError, match="alpha"):
        magnify(GOOD, GOOD, alpha)
    with pytest.raises(InputError, match="alpha"):
        MotionConfig(alpha=alpha)


def test_bad_config_values_are_listed_together():
    with pytest.raises(InputError, match=r"patch_size=15.*token_grid=0"):
        MotionConfig(patch_size=15, token_grid=0)


def test_config_round_trip_and_unknown_keys():
    config = MotionConfig(alpha=4.0, token_grid=5)
    assert MotionConfig.from_dict(config.to_dict()) == config
    with pytest.raises(InputError, match="newer mpt-edge"):
        MotionConfig.from_dict({**config.to_dict(), "future_knob": 1})
