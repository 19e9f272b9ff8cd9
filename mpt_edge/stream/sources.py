"""Frame sources: camera index, video file, RTSP/HTTP URL or GStreamer pipeline string, read by a
capture thread into a *bounded* queue.

Drop policy: when the consumer falls behind on a live source, frames arriving while the queue is
full are grabbed off the device but not converted to BGR (``grab`` without ``retrieve``: the
conversion is a large part of reading a 1080p frame) and counted as dropped, so memory stays flat
and the CPU goes to catching up; the queue is short, so the pipeline stays within a few frames of
live; files are never dropped (the
reader waits instead: a file is replayed, not watched live). A live source that fails is reopened
with exponential back-off (0.5 s doubling to 8 s) up to ``max_reconnects`` consecutive times (a
reopened source that delivers 30 frames is healthy again); a file's end ends the stream cleanly. Nothing is written
anywhere: frames only live in the queue.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.limits import check_fps, check_image_size


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # camera | file | frames (a folder of numbered images) | url | gstreamer
    target: object  # int index, path or string
    live: bool
    fps: float = 0.0  # the rate to use (a folder's, or --fps over a file's or camera's header); 0 = the source's

    def describe(self) -> str:
        return f"{self.kind} {self.target}"


def parse_source(spec: str, fps: float = 0.0) -> SourceSpec:
    """``0`` -> camera 0; an existing path -> file; a folder -> its numbered frames (at ``fps``, default
    30); ``rtsp://…``/``http://…`` -> url; a string with ``!`` (e.g. the Jetson CSI camera
    ``nvarguscamerasrc ! … ! appsink``) -> GStreamer pipeline."""
    text = str(spec).strip()
    if fps:
        check_fps(fps, "--fps")
    if text.isdigit():
        return SourceSpec("camera", int(text), True, fps)
    if "!" in text:
        return SourceSpec("gstreamer", text, True, fps)
    if "://" in text:
        return SourceSpec("url", text, True, fps)
    path = Path(text)
    if path.is_dir():
        return SourceSpec("frames", path, False, fps or 30.0)
    if not path.is_file():
        raise InputError(
            f"--source {text}: no such video file (use a camera index like 0, an rtsp:// URL or a GStreamer pipeline)"
        )
    return SourceSpec("file", path, False, fps)


OPEN_TIMEOUT_S = 10.0


def opencv_has_gstreamer() -> bool:
    """Whether this OpenCV was built with GStreamer (pip's ``opencv-python`` is not; JetPack's and
    Debian's system OpenCV are)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return line.split(":", 1)[1].strip().upper().startswith("YES")
    return False


def require_gstreamer(pipeline: str) -> None:
    if not opencv_has_gstreamer():
        raise InputError(
            f"this OpenCV {cv2.__version__} is built without GStreamer, so it cannot open the "
            f"pipeline '{pipeline[:60]}'; "
            "use the system OpenCV (JetPack's on a Jetson, `apt install python3-opencv` on "
            "Debian/Ubuntu) from a venv made with --system-site-packages, without pip's "
            "opencv-python"
        )


def open_capture(spec: SourceSpec, timeout_s: float = OPEN_TIMEOUT_S) -> cv2.VideoCapture:
    """Open a source; OpenCV's own multi-line warnings are silenced: failures get one clear line from us.

    Network URLs are opened through FFmpeg with open *and* read timeouts of ``timeout_s``: without
    them a host that accepts the connection and never answers held OpenCV ~30 s, and a stream that
    stalls mid-way would block the capture thread for as long (measured: a silent server on
    127.0.0.1 now fails after 2.0 s with ``timeout_s=2``; a refused port at once)."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    if spec.kind == "gstreamer":
        require_gstreamer(str(spec.target))
        return cv2.VideoCapture(str(spec.target), cv2.CAP_GSTREAMER)
    if spec.kind == "camera":
        return cv2.VideoCapture(int(str(spec.target)))
    if spec.kind == "frames":
        from mpt_edge.stream.frame_folder import FrameFolderCapture

        return FrameFolderCapture(Path(str(spec.target)), spec.fps)  # type: ignore[return-value]
    if spec.kind == "url":
        milliseconds = max(1, int(timeout_s * 1000))
        return cv2.VideoCapture(
            str(spec.target),
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds, cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds],
        )
    return cv2.VideoCapture(str(spec.target))


@dataclass
class Frame:
    index: int  # frames read from the source so far (0-based), drops included
    time_s: float  # source time: position in a file, wall time since start for live sources
    image: np.ndarray


@dataclass
class CaptureStats:
    read: int = 0
    dropped: int = 0
    corrupt: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


_END = object()
STABLE_FRAMES = 30


class CaptureThread:
    """Reads a source on a background thread; iterate it to get :class:`Frame`s in order."""

    def __init__(
        self,
        spec: SourceSpec,
        queue_size: int = 8,
        max_reconnects: int = 5,
        backoff_s: float = 0.5,
        opener: Callable[[SourceSpec], cv2.VideoCapture] | None = None,
        open_timeout_s: float = OPEN_TIMEOUT_S,
    ) -> None:
        if queue_size < 1:
            raise InputError("queue size must be >= 1")
        self.spec, self.max_reconnects, self.backoff_s = spec, max_reconnects, backoff_s
        self.queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self.stats = CaptureStats()
        self._stop = threading.Event()
        self.open_timeout_s = open_timeout_s
        self._open = opener or (lambda spec: open_capture(spec, open_timeout_s))
        self._capture = self._open(spec)
        if not self._capture.isOpened():
            if spec.kind == "url":
                raise InputError(
                    f"cannot open {spec.target} within {self.open_timeout_s:g} s (refused, "
                    "unreachable or not a video stream); "
                    "check the URL, that the camera is on the network, or raise --open-timeout"
                )
            raise InputError(
                f"cannot open {spec.describe()}; check the device/path/URL (and that nothing else holds the camera)"
            )
        self.fps = spec.fps or self._claimed_fps()
        if spec.kind == "file":  # a header claiming a huge frame is refused before its first frame is decoded
            width, height = (
                int(self._capture.get(p) or 0) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT)
            )
            if width and height:
                try:
                    check_image_size(width, height, f"video {spec.target}")
                except InputError:
                    self._capture.release()
                    raise
        self._failures = 0
        self._good_frames = 0
        self.state = "connected"  # connected / reconnecting / ended: what the live view's /healthz reports
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._started = time.monotonic()

    def _claimed_fps(self) -> float:
        """The rate the source's header claims, checked: the spotter's buffers and frame counts scale with
        it (a file claiming 100000 fps made a 53,333-frame buffer and found no event). A camera that
        says nothing (0) runs at 30."""
        claimed = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if claimed == 0.0:
            return 30.0
        try:
            return check_fps(claimed, self.spec.describe())
        except InputError:
            self._capture.release()
            raise

    def start(self) -> CaptureThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:  # unblock a reader waiting on a full queue
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=5)
        self._capture.release()

    def _put(self, item: object) -> None:
        if not self.spec.live:
            while not self._stop.is_set():
                try:
                    self.queue.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass

    def _reconnect(self) -> bool:
        """Reopen a failed live source; back-off doubles over consecutive failures (0.5 s .. 8 s). A
        reopened source must deliver ``STABLE_FRAMES`` frames before the failure count is forgiven."""
        self.state = "reconnecting"
        while self._failures < self.max_reconnects:
            delay = min(self.backoff_s * 2**self._failures, 8.0)
            self._failures += 1
            if self._stop.wait(delay):
                return False
            self._capture.release()
            self._capture = self._open(self.spec)
            self.stats.reconnects += 1
            self._good_frames = 0
            if self._capture.isOpened():
                self.state = "connected"
                return True
        self.stats.errors.append(
            f"{self.spec.describe()} stopped delivering frames and did not come back after "
            f"{self.max_reconnects} reconnects"
        )
        return False

    def _run(self) -> None:
        index = 0
        try:
            while not self._stop.is_set():
                if self.spec.live and self.queue.full() and hasattr(self._capture, "grab"):
                    # Behind on a live source: take the frame off the device (grab) but skip its
                    # colour conversion (retrieve) — it would be dropped anyway. Frees CPU to catch up.
                    if self._capture.grab():
                        self.stats.read += 1
                        self.stats.dropped += 1
                        index += 1
                        continue
                    ok, image = False, None
                else:
                    ok, image = self._capture.read()
                if not ok:
                    if self.spec.live and self._reconnect():
                        continue
                    break
                if image is None or image.size == 0 or image.ndim not in (2, 3):
                    self.stats.corrupt += 1
                    index += 1
                    continue
                time_s = index / self.fps if not self.spec.live else time.monotonic() - self._started
                self.stats.read += 1
                self._good_frames += 1
                if self._good_frames >= STABLE_FRAMES:
                    self._failures = 0
                self._put(Frame(index, time_s, image))
                index += 1
        except InputError as error:  # a frame we refuse (unreadable, over a limit) says so itself
            self.stats.errors.append(str(error))
        except Exception as error:  # a driver error must end the stream with a message, never hang it
            self.stats.errors.append(f"{self.spec.describe()}: {type(error).__name__}: {error}")
        finally:
            self.state = "ended"
            self._put(_END)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]


def open_stream(
    source: str, queue_size: int = 8, max_reconnects: int = 5, open_timeout_s: float = OPEN_TIMEOUT_S
) -> CaptureThread:
    return CaptureThread(parse_source(source), queue_size, max_reconnects, open_timeout_s=open_timeout_s).start()
