"""Synthetic micro-expression set: deterministic, balanced, sub-pixel, and each class moves its own face region."""

from __future__ import annotations

import numpy as np
import pytest

from mpt_edge.motion import FEATURE_NAMES, MotionConfig, motion_prompts, token_centres
from train.data.synthetic import CLASSES_3, CLASSES_5, draw_face, generate

ENERGY = FEATURE_NAMES.index("mean_abs_diff")


def test_deterministic_and_subjects_independent_of_set_size():
    small = generate(num_subjects=2, clips_per_class=1, size=112, seed=7)
    again = generate(num_subjects=2, clips_per_class=1, size=112, seed=7)
    bigger = generate(num_subjects=3, clips_per_class=1, size=112, seed=7)
    for a, b, c in zip(small, again, bigger):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.frames, c.frames)
    other_seed = generate(num_subjects=1, clips_per_class=1, size=112, seed=8)
    assert not np.array_equal(small[0].frames, other_seed[0].frames)


@pytest.mark.parametrize("num_classes, names", [(3, CLASSES_3), (5, CLASSES_5)])
def test_balanced_labels_shapes_and_annotations(num_classes, names):
    clips = generate(num_subjects=2, clips_per_class=2, num_classes=num_classes, size=112)
    assert len(names) == num_classes
    assert len(clips) == 2 * 2 * num_classes
    assert np.bincount([c.label for c in clips]).tolist() == [4] * num_classes
    assert {c.subject for c in clips} == {"s01", "s02"}
    for clip in clips:
        assert clip.frames.shape == (9, 112, 112, 3) and clip.frames.dtype == np.uint8
        assert clip.onset < clip.apex < clip.offset == 8
        assert 0.4 <= clip.amplitude_px <= 1.5


def test_subjects_look_different():
    faces = [draw_face(np.random.default_rng([0, k])) for k in range(3)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(faces[i].image - faces[j].image).mean() > 0.05


@pytest.mark.parametrize("label, region", [(0, "brows+mouth"), (1, "mouth_corners"), (2, "brows+chin")])
def test_each_class_moves_its_own_region(label, region):
    """Without jitter, the strongest motion tokens lie on the class's action-unit landmarks."""
    clip = [c for c in generate(num_subjects=1, clips_per_class=1, seed=3, jitter=0.0) if c.label == label][0]
    face = draw_face(np.random.default_rng([3, 0]))
    config = MotionConfig(prompt_variant="lk")  # ENERGY: the Lucas-Kanade moments' mean |difference|
    energy = motion_prompts(clip.frames[clip.onset], clip.frames[clip.apex], config)[:, ENERGY]
    centres = token_centres(config)
    spots = {
        "brows+mouth": ["brow_l", "brow_r", "upper_lip", "lower_lip"],
        "mouth_corners": ["mouth_l", "mouth_r"],
        "brows+chin": ["brow_l", "brow_r", "chin", "lower_lip"],
    }[region]
    top = np.argsort(energy)[-3:]
    for token in top:
        nearest = min(np.hypot(*(centres[token] - np.array(face.landmarks[name]))) for name in spots)
        assert nearest < 40, (token, centres[token])


def test_bad_class_count():
    with pytest.raises(ValueError, match="3 or 5 classes"):
        generate(num_subjects=1, num_classes=4)
