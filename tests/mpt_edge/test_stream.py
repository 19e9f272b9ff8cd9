"""Streaming runtime: sources (bounded queue, drop policy, reconnect, end of file, corrupt frames),
onset/apex spotting, and `mpt-edge run` on a generated video with micro-expressions at known frames
through a bundle trained in this test session; faults end with one line, never a hang."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from conftest import _small_config
from helpers.events import expression_lines
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge.bundle import load_bundle
from mpt_edge.engines import open_bundle_engine
from mpt_edge.errors import InputError
from mpt_edge.spotting.spotter import ApexSpotter
from mpt_edge.stream.pipeline import Pipeline
from mpt_edge.stream.sources import CaptureThread, Frame, SourceSpec, parse_source
from train.configs import REGISTRY
from train.data.synthetic_video import plan_events, render_stream, write_video

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:Detected pickle protocol"
)
runner = CliRunner()
NAMES = ["negative", "positive", "surprise"]
# Wide enough to learn the synthetic classes in a few epochs, still seconds per epoch.
SMALL = _small_config()


class FakeCapture:
    """A cv2.VideoCapture stand-in: a list of frames, then failure (a camera that disconnects)."""

    def __init__(self, frames, delay=0.0):
        self.frames, self.delay, self.position = list(frames), delay, 0

    def isOpened(self):
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        time.sleep(self.delay)
        if self.position >= len(self.frames):
            return False, None
        frame = self.frames[self.position]
        self.position += 1
        return True, frame

    def release(self):
        pass


def consume(capture, sleep=0.0):
    out = []
    for frame in capture:
        out.append(frame)
        time.sleep(sleep)
    return out


def test_parse_source_kinds(tmp_path):
    assert parse_source("0") == SourceSpec("camera", 0, True)
    assert parse_source("rtsp://cam.local/stream").kind == "url"
    assert parse_source("nvarguscamerasrc ! nvvidconv ! appsink").kind == "gstreamer"
    video = tmp_path / "v.avi"
    video.write_bytes(b"x")
    assert parse_source(str(video)) == SourceSpec("file", video, False)
    with pytest.raises(InputError, match="no such video file"):
        parse_source(str(tmp_path / "missing.mp4"))


def test_live_source_drops_frames_it_cannot_keep_up_with_and_keeps_the_queue_bounded():
    frames = [np.full((8, 8, 3), i % 255, np.uint8) for i in range(300)]
    capture = CaptureThread(
        SourceSpec("camera", 0, True), queue_size=4, max_reconnects=0, opener=lambda spec: FakeCapture(frames)
    )
    sizes = []
    capture.start()
    received = []
    for frame in capture:
        sizes.append(capture.queue.qsize())
        received.append(frame.index)
        time.sleep(0.002)
    assert capture.stats.dropped > 0 and max(sizes) <= 4
    assert received == sorted(received) and len(received) + capture.stats.dropped == 300
    assert capture.stats.errors  # the fake camera "disconnected" at the end and did not come back


class GrabbingCapture(FakeCapture):
    """A capture with OpenCV's grab/retrieve split, counting colour conversions."""

    def __init__(self, frames):
        super().__init__(frames)
        self.retrieved = 0

    def grab(self):
        time.sleep(0.0005)  # a 2000 fps camera: faster than the consumer below
        if self.position >= len(self.frames):
            return False
        self.position += 1
        return True

    def read(self):
        if not self.grab():
            return False, None
        self.retrieved += 1
        return True, self.frames[self.position - 1]


def test_frames_a_slow_pipeline_would_drop_are_grabbed_but_never_converted():
    frames = [np.full((8, 8, 3), i % 255, np.uint8) for i in range(300)]
    opened = GrabbingCapture(frames)
    capture = CaptureThread(SourceSpec("camera", 0, True), queue_size=4, max_reconnects=0, opener=lambda spec: opened)
    received = [frame.index for frame in capture.start() if not time.sleep(0.002)]
    assert capture.stats.dropped > 0 and len(received) + capture.stats.dropped == 300
    # only the frames the pipeline got were converted (the end-of-stream marker may displace one)
    assert len(received) <= opened.retrieved <= len(received) + 1 < 300
    assert received == sorted(received)


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers: an IP camera that hangs."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_a_network_source_that_never_answers_fails_within_the_open_timeout(silent_server, scheme):
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"within 1\.5 s .*--open-timeout"):
        CaptureThread(parse_source(f"{scheme}://127.0.0.1:{silent_server}/live"), open_timeout_s=1.5)
    assert time.perf_counter() - started < 4.0  # OpenCV's own default held it ~30 s
    started = time.perf_counter()
    with pytest.raises(InputError, match="refused, unreachable"):
        CaptureThread(parse_source(f"{scheme}://127.0.0.1:1/live"), open_timeout_s=1.5)  # nothing listens on port 1
    assert time.perf_counter() - started < 1.5


def test_run_on_an_unanswering_url_is_one_line(bundle_dir, silent_server):
    result = runner.invoke(
        app,
        [
            "run",
            "--bundle",
            str(bundle_dir),
            "--source",
            f"rtsp://127.0.0.1:{silent_server}/cam",
            "--open-timeout",
            "1",
        ],
    )
    assert result.exit_code == EXIT_USER_ERROR and "within 1 s" in result.output and "Traceback" not in result.output, (
        result.output
    )


def test_a_gstreamer_pipeline_without_gstreamer_in_opencv_is_one_line_with_the_fix(monkeypatch):
    import cv2

    from mpt_edge.stream import sources

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  Video I/O:\n    FFMPEG:   YES\n    GStreamer:   NO\n")
    assert not sources.opencv_has_gstreamer()
    with pytest.raises(InputError, match="built without GStreamer.*python3-opencv"):
        CaptureThread(parse_source("videotestsrc num-buffers=30 ! videoconvert ! appsink"))
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "    GStreamer:   YES (1.22.0)\n")
    assert sources.opencv_has_gstreamer()


def test_a_camera_that_disconnects_is_reopened_with_backoff_then_ends_with_a_message():
    opened = []

    def opener(spec):
        opened.append(time.monotonic())
        return FakeCapture([np.zeros((8, 8, 3), np.uint8)] * (5 if len(opened) == 1 else 3))

    capture = CaptureThread(
        SourceSpec("camera", 0, True), queue_size=64, max_reconnects=3, backoff_s=0.05, opener=opener
    ).start()
    done = []
    worker = threading.Thread(target=lambda: done.append(consume(capture)))
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the stream hung"
    assert len(done[0]) == 5 + 3 * 3 and capture.stats.reconnects == 3 and capture.state == "ended"
    assert "did not come back after 3 reconnects" in capture.stats.errors[0]
    assert opened[3] - opened[2] > opened[2] - opened[1] + 0.05  # back-off doubles: 0.05, 0.1, 0.2 s


def test_corrupt_frames_are_skipped_and_counted():
    good = np.zeros((8, 8, 3), np.uint8)
    capture = CaptureThread(
        SourceSpec("camera", 0, True),
        max_reconnects=0,
        opener=lambda s: FakeCapture([good, np.empty((0,), np.uint8), good, np.zeros((4,), np.uint8), good]),
    ).start()
    frames = consume(capture)
    assert [f.index for f in frames] == [0, 2, 4] and capture.stats.corrupt == 2


def test_a_file_is_replayed_whole_even_for_a_slow_consumer(tmp_path):
    video = write_video(tmp_path / "v.avi", render_stream([], 40, seed=3))
    capture = CaptureThread(parse_source(str(video)), queue_size=2).start()
    frames = consume(capture, sleep=0.005)
    assert len(frames) == 40 and capture.stats.dropped == 0 and frames[-1].time_s == pytest.approx(39 / 30)


def test_spotter_finds_onset_and_apex_of_known_events():
    truth = plan_events(330, [0, 1, 2, 0, 1, 2, 0, 1, 2])
    spotter = ApexSpotter()
    spots = [s for i, f in enumerate(render_stream(truth, 330)) if (s := spotter.update(i, f[16:240, 48:272]))]
    assert len(spots) == len(truth)
    for spot, event in zip(spots, truth):
        assert abs(spot.apex - event.apex) <= 1 and event.onset - 1 <= spot.onset <= event.apex
    quiet = ApexSpotter()
    assert sum(1 for i, f in enumerate(render_stream([], 300, seed=9)) if quiet.update(i, f[16:240, 48:272])) <= 1


def _ffmpeg_decoded(frames, folder):
    """``frames`` through one more JPEG generation (q95, as an MJPEG camera sends them) and FFmpeg's MJPEG
    decoder (OpenCV's video reader on a raw .mjpeg stream), beside the same bytes decoded by libjpeg."""
    import cv2

    encoded = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1] for f in frames]
    stream = folder / "camera.mjpeg"
    stream.write_bytes(b"".join(e.tobytes() for e in encoded))
    capture = cv2.VideoCapture(str(stream), cv2.CAP_FFMPEG)
    decoded = []
    while (read := capture.read())[0]:
        decoded.append(read[1])
    capture.release()
    return decoded, [cv2.imdecode(e, cv2.IMREAD_COLOR) for e in encoded]


def test_the_spotter_keeps_every_event_through_ffmpegs_mjpeg_decoder(video, tmp_path):
    """An HTTP MJPEG camera's frames are decoded by FFmpeg, ~0.9 grey levels per pixel away from libjpeg's
    decode of the same bytes, its 8x8 blocks' levels wandering between frames: that doubled the old
    spotter's noise threshold and lost half the events (issue "Bounded", CI on AVX-512). The spotter must
    find every event in those frames, well above its threshold."""
    import cv2

    path, truth = video
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    ffmpeg, libjpeg = _ffmpeg_decoded(frames, tmp_path)
    assert len(ffmpeg) == len(frames)
    assert np.abs(ffmpeg[10].astype(float) - libjpeg[10]).mean() > 0.5  # the decoders really differ
    for decoded in (ffmpeg, libjpeg):
        pipeline = Pipeline(None, None)
        pipeline.candidates = []  # what the learned ME scorer was asked (landmark layout)
        streamed = [e for i, image in enumerate(decoded) if (e := pipeline.process(Frame(i, i / 30, image)))]
        events = [e for e in streamed if e.is_expression]  # the drawn face's blinks come as their own events
        found = [e for e in events if any(abs(e.frame_apex - t.apex) <= 3 for t in truth)]
        assert len(found) == len(truth) == len(events), ([e.frame_apex for e in events], pipeline.spotter.explained)
        assert min(e.score for e in events) >= 2.2, events  # not at the edge of the threshold (1.8)
        if (scorer := pipeline.me_scorer) is not None:  # ... nor of the scorer's (P 0.70-0.99 through FFmpeg's)
            assert min(scorer.probability(f) for _, f in pipeline.candidates) >= scorer.threshold + 0.05


def score_events(events, truth):
    """(true events found with the apex within 3 frames, of those labelled right)."""
    matched = right = 0
    for event in truth:
        hits = [e for e in events if abs(e["frame_apex"] - event.apex) <= 3]
        matched += bool(hits)
        right += bool(hits) and hits[0]["label"] == NAMES[event.label]
    return matched, right


@pytest.fixture(scope="module")
def bundle_dir(stream_model):
    """A small model trained on the synthetic set in this session, built into an onnxruntime bundle."""
    return stream_model / "bundle"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    truth = plan_events(300, [0, 1, 2, 0, 1, 2, 0, 1])
    # seed 101: a drawn face the Haar cascade finds (it misses some cartoons)
    path = write_video(tmp_path_factory.mktemp("video") / "stream.avi", render_stream(truth, 300, seed=101))
    return path, truth


@pytest.mark.slow
def test_run_finds_the_micro_expressions_of_a_video_with_mostly_right_labels(bundle_dir, video, tmp_path):
    path, truth = video
    events_file = tmp_path / "events.jsonl"
    before = set(p.name for p in tmp_path.iterdir())
    result = runner.invoke(
        app, ["run", "--bundle", str(bundle_dir), "--source", str(path), "--events", str(events_file), "--json"]
    )
    assert result.exit_code == 0, result.output
    events = expression_lines(events_file.read_text())
    matched, right = score_events(events, truth)
    assert matched >= len(truth) - 1 and len(events) <= len(truth) + 1
    assert right >= 0.6 * len(truth), events
    assert set(events[0]) >= {"t_onset", "t_apex", "label", "scores", "face_box"}
    assert set(p.name for p in tmp_path.iterdir()) == before | {"events.jsonl"}  # nothing else written without --record
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["frames"] == 300 and summary["dropped"] == 0 and summary["latency_ms_apex_to_event"]["p50"] > 0
    assert (
        summary["face_detector"] == "blazeface"
    )  # auto: the landmark detector, its models installed (`mpt-edge faces install`)


@pytest.mark.slow
def test_a_720p_camera_finds_every_event_with_the_labels_of_the_demo_size(bundle_dir, video, tmp_path):
    """The same micro-expressions on a 1280x720 canvas, the face enlarged 2x (a person at the same
    distance from a 720p camera): every event found, the crop placed once, and the labels those of
    the 320x256 video — detection on a downscaled copy, the crop from the full frame."""
    from train.data.synthetic_video import CANVASES

    _, truth = video
    width, height, scale = CANVASES["720p"]
    big = write_video(
        tmp_path / "720p.avi", render_stream(truth, 300, seed=101, frame_size=(width, height), face_scale=scale)
    )
    runs = {}
    for name, path in (("demo", video[0]), ("720p", big)):
        events_file = tmp_path / f"{name}.jsonl"
        result = runner.invoke(
            app, ["run", "--bundle", str(bundle_dir), "--source", str(path), "--events", str(events_file), "--json"]
        )
        assert result.exit_code == 0, result.output
        events = expression_lines(events_file.read_text())
        runs[name] = (
            {t.apex: next((e["label"] for e in events if abs(e["frame_apex"] - t.apex) <= 3), None) for t in truth},
            json.loads(result.output.strip().splitlines()[-1]),
            len(events),
        )
    labels, summary, count = runs["720p"]
    assert None not in labels.values() and count == len(truth), runs
    assert summary["crop_changes"] == 1 and summary["no_face_frames"] == 0
    right = sum(labels[t.apex] == NAMES[t.label] for t in truth)
    right_demo = sum(runs["demo"][0][t.apex] == NAMES[t.label] for t in truth)
    assert right >= min(right_demo, len(truth) - 1), runs


@pytest.mark.slow
def test_an_http_mjpeg_camera_finds_the_events_of_the_file_and_survives_a_restart(bundle_dir, video):
    """A real HTTP MJPEG server on 127.0.0.1 replaying the test video: the same micro-expressions as
    from the file; then the server is killed mid-stream and started again — the source reconnects
    with back-off and the stream resumes."""
    import io

    from helpers.mjpeg_server import MjpegServer

    from mpt_edge.stream.run import RunOptions, run_stream

    path, truth = video
    server = MjpegServer(path, fps=60).start()
    try:
        events = io.StringIO()
        summary = run_stream(bundle_dir, server.url, events, RunOptions(max_frames=300), log=lambda m: None)
        found = expression_lines(events.getvalue())
        assert sum(any(abs(e["frame_apex"] - t.apex) <= 3 for e in found) for t in truth) >= len(truth) - 1, found
        assert summary.frames == 300 and summary.reconnects == 0

        results: dict = {}
        worker = threading.Thread(
            target=lambda: results.update(
                run_stream(
                    bundle_dir, server.url, io.StringIO(), RunOptions(max_frames=400), log=lambda m: None
                ).as_dict()
            )
        )
        worker.start()
        time.sleep(2.0)  # ~120 frames in
        server.stop()
        time.sleep(1.5)  # the camera is gone for a while
        server.start()
        worker.join(timeout=60)
        assert not worker.is_alive() and results["frames"] == 400 and results["reconnects"] >= 1, results
    finally:
        server.stop()


@pytest.fixture
def rtsp_server(video):
    """gst-rtsp-server on 127.0.0.1 serving the test video (system Python + Debian's GStreamer)."""
    import subprocess
    from pathlib import Path

    from helpers.system import SYSTEM_PYTHON, free_port, system_python_has

    if not system_python_has(
        "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    ):
        pytest.skip(
            "no gst-rtsp-server for the system Python (apt install python3-gi "
            "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good)"
        )
    port = free_port()
    script = Path(__file__).parents[1] / "helpers" / "rtsp_server.py"
    processes = []

    def start():
        process = subprocess.Popen(
            [SYSTEM_PYTHON, str(script), str(video[0]), str(port)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout.readline().strip() == "ready"
        processes.append(process)

    def stop():
        for process in processes:
            process.kill()
            process.wait()
        processes.clear()

    start()
    yield f"rtsp://127.0.0.1:{port}/live", start, stop
    stop()


@pytest.mark.slow
def test_an_rtsp_camera_finds_the_events_of_the_file(bundle_dir, video, rtsp_server):
    """A real RTSP server replaying the test video at 30 fps: the same micro-expressions as from the file."""
    import io

    from mpt_edge.stream.run import RunOptions, run_stream

    url, _, _ = rtsp_server
    _, truth = video
    events = io.StringIO()
    # the file has 300
    summary = run_stream(bundle_dir, url, events, RunOptions(max_frames=280, open_timeout_s=5), log=lambda m: None)
    found = expression_lines(events.getvalue())
    assert (
        sum(any(abs(e["frame_apex"] - t.apex) <= 3 for e in found) for t in truth if t.offset < 280)
        >= len([t for t in truth if t.offset < 280]) - 1
    ), found
    # a burst at session start can overflow the 8-frame queue (measured: 13 of 400 dropped, none later)
    assert summary.frames == 280 and summary.dropped <= 20 and summary.reconnects == 0, summary


@pytest.mark.slow
def test_an_rtsp_camera_that_restarts_is_reconnected_and_resumes(bundle_dir, rtsp_server):
    import io

    from mpt_edge.stream.run import RunOptions, run_stream

    url, start, stop = rtsp_server
    results: dict = {}
    worker = threading.Thread(
        target=lambda: results.update(
            run_stream(
                bundle_dir, url, io.StringIO(), RunOptions(max_frames=150, open_timeout_s=2), log=lambda m: None
            ).as_dict()
        )
    )
    worker.start()
    time.sleep(2.5)  # ~75 frames in
    stop()
    time.sleep(1.0)
    start()  # the camera is back: a new session from its first frame
    worker.join(timeout=60)
    assert not worker.is_alive() and results["frames"] == 150 and results["reconnects"] >= 1, results


def test_a_gstreamer_pipeline_runs_where_opencv_has_gstreamer():
    """pip's OpenCV has no GStreamer; Debian's python3-opencv (system Python) has: the project's own
    capture code reads a videotestsrc pipeline there."""
    from helpers.system import run_system_python, system_opencv_has_gstreamer

    if not system_opencv_has_gstreamer():
        pytest.skip("no OpenCV with GStreamer for the system Python (apt install python3-opencv)")
    code = (
        "from mpt_edge.stream.sources import CaptureThread, parse_source\n"
        "capture = CaptureThread(parse_source('videotestsrc num-buffers=30 ! "
        "videoconvert ! video/x-raw,format=BGR,width=320,height=240 ! appsink'), "
        "max_reconnects=0).start()\n"
        "frames = [f.image.shape for f in capture]\n"
        "print(len(frames), frames[0])\n"
    )
    result = run_system_python(code)
    assert result.returncode == 0 and result.stdout.strip() == "30 (240, 320, 3)", result.stdout + result.stderr


@pytest.mark.slow
def test_the_live_view_in_headless_chromium_shows_the_face_box_and_events(bundle_dir, video, tmp_path):
    """`run --serve` on the test video streamed by a 30 fps MJPEG camera; Chromium (Debian's, installed
    by .ci/run) opens the page: its screenshot (kept in this test's temp folder) shows the green face
    box and the last event's label in red on the frame; the server lists the events so far."""

    def urllib_get(url: str) -> str:
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    import io
    import shutil
    import subprocess

    from helpers.mjpeg_server import MjpegServer
    from helpers.system import free_port

    from mpt_edge.stream.run import RunOptions, run_stream

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium (apt install chromium)")
    port = free_port()
    camera = MjpegServer(video[0], fps=30).start()
    results: dict = {}
    worker = threading.Thread(
        target=lambda: results.update(
            run_stream(
                bundle_dir,
                camera.url,
                io.StringIO(),
                RunOptions(max_frames=540, serve=f"127.0.0.1:{port}"),  # the camera loops: 18 s live
                log=lambda m: None,
            ).as_dict()
        )
    )
    worker.start()
    try:
        deadline = time.monotonic() + 12.0  # wait for an expression, not a fixed time: slow CPUs vary
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                so_far = urllib_get(f"http://127.0.0.1:{port}/events.jsonl")
            except OSError:
                continue
            if any(json.loads(line).get("label") in NAMES for line in so_far.splitlines()):
                break
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--timeout=3000"]
        shot = tmp_path / "live-view.png"
        subprocess.run(
            [browser, *flags, "--window-size=800,700", f"--screenshot={shot}", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            timeout=90,
        )
        listed = urllib_get(f"http://127.0.0.1:{port}/events.jsonl")
    finally:
        worker.join(timeout=60)
        camera.stop()
    import cv2

    image = cv2.imread(str(shot))
    assert image is not None, "no screenshot"
    green = (image[:, :, 1] > 170) & (image[:, :, 0] < 60) & (image[:, :, 2] < 60)  # the face box, BGR (0, 200, 0)
    assert green.sum() > 200, green.sum()
    red = (
        (image[:, :, 2] > 170) & (image[:, :, 1] < 60) & (image[:, :, 0] < 60)
    )  # the last event's label drawn on the frame
    assert red.sum() > 30, red.sum()
    assert any(json.loads(line).get("label") in NAMES for line in listed.splitlines()), listed
    assert results["frames"] == 540


@pytest.fixture
def x_display():
    """A virtual X display (Xvfb) for --show, and xdotool to press keys in it."""
    import shutil
    import subprocess

    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("no Xvfb/xdotool (apt install xvfb xdotool)")
    read, write = __import__("os").pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    display = ":" + __import__("os").read(read, 16).decode().strip()
    yield display
    server.kill()
    server.wait()


@pytest.mark.slow
def test_show_opens_a_window_q_ends_the_run_and_so_does_the_end_of_a_file(bundle_dir, video, x_display):
    import os
    import subprocess
    import sys

    from helpers.mjpeg_server import MjpegServer

    env = {**os.environ, "DISPLAY": x_display}
    camera = MjpegServer(video[0], fps=30).start()
    try:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",
                "run",
                "--bundle",
                str(bundle_dir),
                "--source",
                camera.url,
                "--show",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        window, deadline = "", time.time() + 30
        while not window and time.time() < deadline and run.poll() is None:
            time.sleep(0.5)  # --onlyvisible: a window found before it is mapped cannot take the focus (X BadMatch)
            window = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", "^mpt-edge$"], env=env, capture_output=True, text=True
            ).stdout.split()
        assert window, "no window appeared"
        for _ in range(5):  # focus, then q; again if the key landed before the focus did
            subprocess.run(["xdotool", "windowfocus", "--sync", window[0]], env=env, timeout=10, capture_output=True)
            subprocess.run(["xdotool", "key", "q"], env=env, timeout=10)
            try:
                run.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        _, stderr = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
        camera.stop()
    summary = json.loads(stderr.strip().splitlines()[-1])
    assert run.returncode == 0 and 0 < summary["frames"] and not summary["errors"], stderr[-500:]
    ended = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "run",
            "--bundle",
            str(bundle_dir),
            "--source",
            str(video[0]),
            "--show",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ended.returncode == 0 and json.loads(ended.stderr.strip().splitlines()[-1])["frames"] == 300, ended.stderr[
        -500:
    ]


def test_record_is_opt_in_and_writes_the_annotated_video(bundle_dir, video, tmp_path):
    path, _ = video
    out = tmp_path / "annotated.mp4"
    result = runner.invoke(
        app, ["run", "--bundle", str(bundle_dir), "--source", str(path), "--record", str(out), "--max-frames", "60"]
    )
    assert result.exit_code == 0, result.output
    import cv2

    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 60


def test_faults_changing_sizes_no_face_and_garbage_never_crash(bundle_dir):
    bundle = load_bundle(bundle_dir)
    pipeline = Pipeline(bundle, open_bundle_engine(bundle))
    frames = list(render_stream([], 30, seed=101))
    for i, image in enumerate(frames[:10]):
        pipeline.process(Frame(i, i / 30, image))
    small = [np.ascontiguousarray(f[::2, ::2]) for f in frames[10:20]]  # the camera switches resolution
    for i, image in enumerate(small, start=10):
        pipeline.process(Frame(i, i / 30, image))
    blank = np.full((256, 320, 3), 90, np.uint8)  # the person leaves: no face for a long stretch
    for i in range(20, 220):
        assert pipeline.process(Frame(i, i / 30, blank)) is None
    assert pipeline.stats.no_face_frames >= 200 and pipeline.stats.crop_changes >= 2
    assert (
        pipeline.stats.detections < 40
    )  # while nobody is there, detection is retried every 15 frames, not every frame
    for i, image in enumerate(frames[20:30] * 3, start=220):  # and comes back
        pipeline.process(Frame(i, i / 30, image))
    assert pipeline.alignment is not None


def test_truncated_video_ends_cleanly_and_a_missing_engine_file_is_one_line(bundle_dir, video, tmp_path):
    path, _ = video
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # the stream stops mid-way
    result = runner.invoke(app, ["run", "--bundle", str(bundle_dir), "--source", str(cut), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert 0 < summary["frames"] < 300
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(bundle_dir, broken)
    (broken / "model.onnx").unlink()
    result = runner.invoke(app, ["run", "--bundle", str(broken), "--source", str(path)])
    assert (
        result.exit_code == EXIT_USER_ERROR
        and "is missing model.onnx" in result.output
        and "Traceback" not in result.output
    )
    result = runner.invoke(app, ["bench-stream", "--bundle", str(bundle_dir), "0"])
    assert result.exit_code == EXIT_USER_ERROR and "video file" in result.output


def test_bench_stream_prints_stage_times(bundle_dir, video):
    path, _ = video
    result = runner.invoke(app, ["bench-stream", "--bundle", str(bundle_dir), str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (
        report["fps"] > 0
        and set(report["stage_ms_per_frame"]) == {"face", "spot", "magnify_tokenize", "infer"}
        and report["peak_rss_mb"] > 0
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant,vit_input,target", [("patch", "magnified", "openvino-cpu"), ("lk", "apex", "onnxruntime-cpu")]
)
def test_every_prompt_variant_calibrates_and_streams_the_right_events(tmp_path, video, variant, vit_input, target):
    """The other motion prompt designs go the whole way: train, export, INT8 calibration in the
    bundle, and `mpt-edge run` on the video (the strain / apex default is `bundle_dir` above; lk is what
    every bundle before 0.3 carries; flow's train -> export parity is in tests/train/test_prompt_variants.py)."""
    path, truth = video
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(REGISTRY, SMALL.name, SMALL)
        trained = runner.invoke(
            app,
            [
                "train",
                "--root",
                str(tmp_path / "data"),
                "--synthetic-subjects",
                "8",
                "--synthetic-clips",
                "3",
                "--model",
                SMALL.name,
                "--epochs",
                "8",
                "--protocol",
                "all",
                "--alpha",
                "4",
                "--prompt-variant",
                variant,
                "--vit-input",
                vit_input,
                "--out",
                str(tmp_path / "run"),
            ],
        )
        assert trained.exit_code == 0, trained.output
        built = runner.invoke(
            app, ["build", str(tmp_path / "run" / "best.pt"), "--target", target, "--out", str(tmp_path / "bundle")]
        )
        assert built.exit_code == 0, built.output
    bundle = load_bundle(tmp_path / "bundle")
    assert (bundle.motion_config.prompt_variant, bundle.motion_config.vit_input) == (variant, vit_input)
    events_file = tmp_path / "events.jsonl"
    result = runner.invoke(
        app,
        ["run", "--bundle", str(tmp_path / "bundle"), "--source", str(path), "--events", str(events_file), "--json"],
    )
    assert result.exit_code == 0, result.output
    events = expression_lines(events_file.read_text())
    matched, right = score_events(events, truth)
    assert matched >= len(truth) - 1 and len(events) <= len(truth) + 1
    assert right >= 0.6 * len(truth), events
