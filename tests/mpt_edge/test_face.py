"""The Haar fallback and the shared alignment on a real photograph (scikit-image's astronaut portrait);
the landmark detectors on many photographs: test_faces.py."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import fourier_translate

from mpt_edge.errors import InputError
from mpt_edge.faces import resolve_detector
from mpt_edge.faces.align import FaceAligner


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.astronaut()[..., ::-1])  # RGB -> BGR, 512 x 512


def rotation_of(alignment) -> float:
    """Degrees the alignment rotates the frame by (OpenCV convention, counter-clockwise positive)."""
    (a, b, _), _ = alignment.matrix
    return math.degrees(math.atan2(b, a))


def test_haar_detects_the_face_and_levels_the_eyes(portrait):
    aligner = FaceAligner(224, "haar")
    alignment = aligner.align(portrait)
    assert alignment.method == "eyes"
    x, y, w, h = alignment.box
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160 and 80 < w < 130  # her face, not the flag or the suit
    crop = alignment.apply(portrait)
    assert crop.shape == (224, 224, 3)
    # Tilting the head rotates the alignment the other way: the crop is levelled.
    tilted = cv2.warpAffine(portrait, cv2.getRotationMatrix2D((256, 256), 8, 1.0), (512, 512))
    assert aligner.align(tilted).method == "eyes"
    assert rotation_of(aligner.align(tilted)) - rotation_of(alignment) < -2.0


def test_one_transform_found_on_the_onset_is_applied_to_the_apex(portrait):
    gray = cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    moved = np.clip(fourier_translate(gray, 0.5), 0, 1)  # the "apex": a sub-pixel change only
    onset = cv2.cvtColor((gray * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    apex = cv2.cvtColor((moved * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    onset_crop, apex_crop, alignment = FaceAligner(224).align_pair(onset, apex)
    assert alignment.method == "landmarks"
    np.testing.assert_array_equal(alignment.apply(apex), apex_crop)
    difference = np.abs(onset_crop.astype(int) - apex_crop.astype(int)).mean()
    assert 0 < difference < 10  # the motion survives, no re-detection jitter added on top


def test_haar_finds_no_face_on_a_blank_frame_and_none_takes_the_frame():
    blank = np.full((120, 200, 3), 128, np.uint8)
    assert FaceAligner(64, "haar").find(blank) is None
    alignment = FaceAligner(64, detector="none").align(blank)
    assert alignment.method == "frame" and alignment.box is None and alignment.apply(blank).shape == (64, 64, 3)


def test_bad_arguments_are_clear():
    with pytest.raises(InputError, match="unknown face detector 'dlib'"):
        FaceAligner(224, detector="dlib")
    with pytest.raises(InputError, match="differ in size"):
        FaceAligner(64).align_pair(np.zeros((64, 64, 3), np.uint8), np.zeros((60, 64, 3), np.uint8))
    with pytest.raises(InputError, match="onset frame must be"):
        FaceAligner(64).align(np.zeros(0, np.uint8))
    with pytest.raises(InputError, match="unknown face detector 'dlib'; choose auto"):
        resolve_detector("dlib")


def test_auto_falls_back_from_blazeface_where_openvino_is_missing_and_says_why(monkeypatch):
    import mpt_edge.faces as faces

    monkeypatch.setattr(faces, "models_installed", lambda name: True)
    monkeypatch.setattr(faces, "_runs_here", lambda name: name != "blazeface")
    notes: list[str] = []
    assert resolve_detector("auto", trained="blazeface", log=notes.append) == "mtcnn"
    assert "needs OpenVINO" in notes[0] and "aligned with it" in notes[0]
    assert resolve_detector("auto", trained="mtcnn", log=notes.append) == "mtcnn" and len(notes) == 1
    assert resolve_detector("blazeface") == "blazeface"  # asked for by name: no fallback
    monkeypatch.setattr(faces, "models_installed", lambda name: False)
    assert resolve_detector("auto", log=notes.append) == "haar" and "no landmarks" in notes[-1]
