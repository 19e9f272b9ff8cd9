"""Reading a pair both ways: the mirrored reading is the mirrored pair's inputs, the device's class scores are
the mean of the readings' softmax, and a config written before the field reads once."""

from __future__ import annotations

import numpy as np
import pytest

from mpt_edge.classify import feeds_of, predict_feeds, softmax
from mpt_edge.errors import InputError
from mpt_edge.motion.config import MotionConfig
from mpt_edge.preprocess import model_inputs, model_readings

CLASSES = ["happiness", "surprise", "others"]


def face_pair(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A textured crop and the same crop with a patch on its left side moved right by 2 px: a motion whose
    mirror image is a different pair."""
    rng = np.random.default_rng(seed)
    onset = (rng.random((112, 112, 3)) * 255).astype(np.uint8)
    apex = onset.copy()
    apex[30:60, 12:50] = onset[30:60, 10:48]
    return onset, apex


class PromptSum:
    """An engine whose logits read the prompts' horizontal flow: a mirrored reading changes them."""

    def __init__(self) -> None:
        self.calls: list[dict[str, np.ndarray]] = []

    def infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        self.calls.append(feeds)
        flow_x = float(feeds["motion"][0, :, 0].sum())
        return np.array([[flow_x, 0.0, -flow_x + float(feeds["apex"].mean())]], np.float32)


def test_a_mirrored_reading_is_the_inputs_of_the_mirrored_pair():
    onset, apex = face_pair()
    config = MotionConfig(face_size=112, read_mirrored=True)
    plain, mirrored = model_readings(onset, apex, config)
    expected = model_inputs(np.ascontiguousarray(onset[:, ::-1]), np.ascontiguousarray(apex[:, ::-1]), config)
    for ours, theirs in zip(mirrored, expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(plain[0], model_inputs(onset, apex, config)[0])
    assert not np.allclose(plain[1], mirrored[1])  # the motion on the left reads on the right
    assert len(model_readings(onset, apex, MotionConfig(face_size=112))) == 1


def test_the_device_scores_are_the_mean_of_both_readings():
    onset, apex = face_pair()
    config = MotionConfig(face_size=112, read_mirrored=True)
    engine = PromptSum()
    feeds = feeds_of(config, ["apex", "motion"], onset, apex)
    prediction = predict_feeds(engine, feeds, CLASSES)
    assert len(engine.calls) == 2
    each = [softmax(PromptSum().infer(feed))[0] for feed in feeds]
    assert not np.allclose(each[0], each[1])
    expected = (each[0] + each[1]) / 2
    assert prediction.label == CLASSES[int(np.argmax(expected))]
    np.testing.assert_allclose([prediction.scores[n] for n in CLASSES], expected, atol=1e-4)
    once = predict_feeds(PromptSum(), feeds_of(MotionConfig(face_size=112), ["apex", "motion"], onset, apex), CLASSES)
    np.testing.assert_allclose([once.scores[n] for n in CLASSES], each[0], atol=1e-4)


def test_a_config_stored_before_mirrored_readings_reads_once_and_a_bad_value_is_refused():
    stored = MotionConfig(read_mirrored=True).to_dict()
    assert MotionConfig.from_dict(stored).read_mirrored is True
    del stored["read_mirrored"]
    assert MotionConfig.from_dict(stored).read_mirrored is False
    with pytest.raises(InputError, match="read_mirrored='yes'"):
        MotionConfig.from_dict({**stored, "read_mirrored": "yes"})
