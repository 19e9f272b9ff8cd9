"""Synthetic presets: the hard preset has what it promises (sub-pixel motion, class-independent
distractors, JPEG frames, CASME II-like imbalance), is deterministic and cached like the easy one,
and the easy set is untouched by it."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from mpt_edge.errors import InputError
from train.data.distractors import ClipStyle
from train.data.synthetic import CLASSES_5, displacement_field, draw_face, generate, make_clip
from train.data.synthetic_folder import SyntheticSpec, ensure_synthetic, read_synthetic
from train.data.synthetic_presets import EASY, HARD, HARD_STYLE, get_preset, preset_defaults

QUIET = dict(noise=0.0, jitter=0.0, flicker=0.0, jpeg_quality=None)


def _clip(style: ClipStyle, seed: int = 1, label: int = 0):
    rng = np.random.default_rng([seed, 0])
    face = draw_face(rng, 224, style.texture)
    return face, make_clip(face, label, 5, rng, "s01", style)


def test_hard_preset_parameters_are_the_issue_s():
    assert HARD.subjects >= 24 and HARD.classes == 5
    assert HARD_STYLE.amplitude_range == (0.1, 0.5)
    assert HARD_STYLE.jpeg_quality and HARD_STYLE.blink_probability > 0 and HARD_STYLE.brow_flash_probability > 0
    assert HARD_STYLE.head_shift_px > 0 and HARD_STYLE.head_rotation_deg > 0 and HARD_STYLE.flicker > 0
    # CASME II-like imbalance: others > disgust > happiness, repression, surprise.
    counts = HARD.class_counts(HARD.clips_per_class, 5)
    assert dict(zip(CLASSES_5, counts)) == {"happiness": 2, "surprise": 2, "disgust": 4, "repression": 2, "others": 6}
    assert EASY.class_counts(4, 3) == [4, 4, 4]
    assert preset_defaults("hard", None, None, None) == (24, 3, 5) and preset_defaults("easy", 5, None, None) == (
        5,
        4,
        3,
    )
    with pytest.raises(InputError, match="unknown synthetic preset"):
        get_preset("medium")


def test_hard_clips_have_sub_pixel_motion_and_are_deterministic():
    clips = generate(num_subjects=2, num_classes=5, size=224, seed=3, class_counts=[1, 1, 2, 1, 1], style=HARD_STYLE)
    again = generate(num_subjects=2, num_classes=5, size=224, seed=3, class_counts=[1, 1, 2, 1, 1], style=HARD_STYLE)
    assert len(clips) == 12 and [c.label for c in clips[:6]] == [0, 1, 2, 2, 3, 4]
    for a, b in zip(clips, again):
        np.testing.assert_array_equal(a.frames, b.frames)
        assert 0.1 <= a.amplitude_px <= 0.5


def test_rigid_head_motion_moves_the_whole_face():
    style = replace(
        HARD_STYLE,
        blink_probability=0.0,
        brow_flash_probability=0.0,
        head_rotation_deg=0.0,
        head_shift_px=3.0,
        amplitude_range=(0.0, 0.0),
        **QUIET,
    )
    _, clip = _clip(style, seed=5)
    first, last = (cv2.cvtColor(clip.frames[i], cv2.COLOR_BGR2GRAY).astype(np.float32) for i in (0, -1))
    (dx, dy), _ = cv2.phaseCorrelate(first, last)
    assert 0.3 < np.hypot(dx, dy) <= 3.3  # a real translation, within the configured bound


def test_blink_darkens_the_eyes_and_brow_flash_moves_the_brows():
    blink = replace(
        HARD_STYLE,
        blink_probability=1.0,
        brow_flash_probability=0.0,
        head_shift_px=0.0,
        head_rotation_deg=0.0,
        amplitude_range=(0.0, 0.0),
        **QUIET,
    )
    face, clip = _clip(blink, seed=2)
    change = np.abs(clip.frames.astype(np.float32) - clip.frames[0].astype(np.float32)).max(axis=(0, 3))
    ex, ey = (int(v) for v in face.landmarks["eye_l"])
    mx, my = (int(v) for v in face.landmarks["mouth_l"])
    assert change[ey - 4 : ey + 5, ex - 6 : ex + 7].max() > 40  # the lid covers the eye
    assert change[my - 4 : my + 5, mx - 4 : mx + 5].max() < 4  # nothing else moved (only the slow gain drift)
    flash = replace(blink, blink_probability=0.0, brow_flash_probability=1.0)
    face, clip = _clip(flash, seed=2)
    field = np.abs(displacement_field(face, ["AU1+2"], 224)).max(axis=2)
    moved = np.abs(clip.frames.astype(np.float32) - clip.frames[0].astype(np.float32)).max(axis=(0, 3))
    assert moved[field > 0.5].max() > 8 and moved[field < 0.01].max() < 4


def test_easy_preset_is_untouched_by_the_hard_one():
    spec = SyntheticSpec(subjects=2, clips_per_class=1, classes=3, size=64)
    assert spec.folder_name == "synthetic-v1-c3-n2x1-64px-seed0"  # caches made before presets stay valid
    assert "hard" in SyntheticSpec(subjects=2, clips_per_class=1, classes=5, size=64, preset="hard").folder_name
    with pytest.raises(InputError, match="preset='medium'"):
        SyntheticSpec(preset="medium")


def test_hard_set_on_disk_is_jpeg_imbalanced_and_read_back(tmp_path):
    spec = SyntheticSpec(subjects=2, clips_per_class=1, classes=5, size=96, preset="hard")
    root = ensure_synthetic(spec, tmp_path / "hard")
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["spec"]["preset"] == "hard" and meta["style"]["jpeg_quality"] == HARD_STYLE.jpeg_quality
    assert sorted(p.suffix for p in root.glob("sub01/*/img*")) == [".jpg"] * len(list(root.glob("sub01/*/img*")))
    read_spec, result = read_synthetic(root)
    assert read_spec == spec
    labels = np.bincount([r.label for r in result.records], minlength=5)
    assert labels.tolist() == [2 * c for c in spec.class_counts] and labels[4] > labels[0]
    assert ensure_synthetic(spec, root) == root  # cached: not regenerated
