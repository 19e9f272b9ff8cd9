"""``mpt-edge run --serve HOST:PORT``: what the operator of a headless device sees, in a browser.

One small page (no framework, the standard library's threaded HTTP server): the annotated stream as
MJPEG (face box, the spotting energy as a strip chart against its threshold, the last event's label
and scores), the events pushed live (server-sent events), ``/events.jsonl`` (this run's events) and
``/healthz`` (fps, dropped frames, source state).

Never slows the pipeline: the pipeline thread only hands over a *reference* to the newest frame and
its overlay data (no copy, no drawing, no encoding). One encoder thread draws and JPEG-encodes the
newest frame, at most ``max_fps`` times a second and only while a viewer is connected; each viewer's
thread sends whatever is newest when it is ready, so a slow or stalled viewer only delays itself.
Nothing is kept beyond the newest frame, nothing is written to disk.

Access: loopback by default. Binding any other address needs a token (``--serve-token``, or one
generated and printed once), checked on every request (``Authorization: Bearer …`` or ``?token=…``)
with a constant-time compare; without it: 401 and no frame.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import json
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import cv2
import numpy as np

from mpt_edge.errors import InputError

BOUNDARY = "mptedgeframe"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>mpt-edge live view</title>
<style>body{font-family:sans-serif;margin:1em;background:#111;color:#eee}img{max-width:100%%;border:1px solid #444}
#events li{font-family:monospace}#health{color:#aaa}</style></head><body>
<h3>mpt-edge live view</h3><img id="stream" src="/stream.mjpg%(query)s" alt="annotated stream">
<p id="health"></p><h4>events</h4><ol id="events" reversed></ol>
<script>
const events = document.getElementById("events");
const source = new EventSource("/events%(query)s");
source.onmessage = (m) => { const e = JSON.parse(m.data); const li = document.createElement("li");
  li.textContent = `${e.t_apex.toFixed(2)} s  ${e.label ?? e.type}  ` +
  Object.entries(e.scores || {}).map(([k, v]) => `${k} ${v.toFixed(2)}`).join("  ");
  events.prepend(li); };
async function health() { try { const h = await (await fetch("/healthz%(query)s")).json();
  document.getElementById("health").textContent = `${h.source_state} | ${h.fps} fps | ${h.frames} frames | dropped
  ${h.dropped} | events ${h.events}`; } catch (e) {} }
setInterval(health, 1000); health();
</script></body></html>"""


# Every connection gets this long to send its request (before the token is even looked at) and for
# each write; at most MAX_CONNECTIONS are served at once, the rest closed at once: idle sockets held
# 150 threads before (nothing bounded them, and they never timed out).
REQUEST_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 32


class _BoundedServer(ThreadingHTTPServer):
    """A threaded HTTP server that serves at most ``MAX_CONNECTIONS`` connections at a time."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # full: refuse this one, keep serving the others
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def parse_bind(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; ``:PORT`` is loopback), each part checked."""
    host, _, port = spec.rpartition(":")
    host = host.strip("[]") if host.startswith("[") else host
    usage = f"--serve {spec!r}: give HOST:PORT with a port 1-65535, e.g. 127.0.0.1:8080"
    try:
        number = int(port)
    except ValueError:
        raise InputError(usage) from None
    if not 0 <= number <= 65535 or any(c.isspace() for c in host) or "/" in host:
        raise InputError(usage)
    return host or "127.0.0.1", number


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass
class _Overlay:
    image: np.ndarray | None = None
    box: tuple[int, int, int, int] | None = None
    event: dict[str, Any] | None = None
    sequence: int = 0


@dataclass
class LiveView:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_fps: float = 15.0
    energy_history: int = 150
    log: Callable[[str], None] = print
    source_state: Callable[[], str] | None = None  # asked at request time: no frames flow while reconnecting
    health: dict[str, Any] = field(
        default_factory=lambda: {"source_state": "starting", "fps": 0.0, "frames": 0, "dropped": 0, "events": 0}
    )

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            self.token = secrets.token_urlsafe(18)
            self.log(f"live view on {self.host}:{self.port} needs this token (shown once): {self.token}")
        self._overlay = _Overlay()
        self._lock = threading.Lock()
        self._new_frame = threading.Condition()
        self._new_jpeg = threading.Condition()
        self._jpeg: bytes | None = None
        self._jpeg_sequence = 0
        self._energy: deque[tuple[float, float]] = deque(maxlen=self.energy_history)
        self.events: list[dict[str, Any]] = []
        self._subscribers: list[deque[dict[str, Any]]] = []
        self.viewers = 0
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # --- the pipeline side: cheap, never blocks -------------------------------------------------
    def publish_frame(
        self, image: np.ndarray, box: tuple[int, int, int, int] | None, energy: float | None, threshold: float | None
    ) -> None:
        """Hand over the newest frame (a reference: the capture makes a new array per frame)."""
        if energy is not None:
            self._energy.append((energy, threshold if threshold is not None and np.isfinite(threshold) else 0.0))
        if self.viewers == 0:
            return
        with self._lock:
            self._overlay.image, self._overlay.box = image, box
            self._overlay.sequence += 1
        with self._new_frame:
            self._new_frame.notify()

    def publish_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if event.get("label") is not None and event.get("scores"):  # a class to draw (not a blink, not talking)
            self._overlay.event = event
        for queue in list(self._subscribers):
            queue.append(event)  # bounded deque per viewer: a stalled one loses old events, blocks nothing

    # --- serving ---------------------------------------------------------------------------------
    @property
    def _authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def query(self) -> str:
        """``?token=…`` URL-encoded (a token with ``+ & # %`` or quotes stays one value, and is safe in the
        page's HTML and script), or nothing without a token."""
        return f"?token={quote(self.token, safe='')}" if self.token else ""

    @property
    def url(self) -> str:
        return f"http://{self._authority}/{self.query}"

    @property
    def display_url(self) -> str:
        """The address to print: never the token (a generated one is shown once, a given one the user has)."""
        return f"http://{self._authority}/" + (" (append ?token=YOUR_TOKEN)" if self.token else "")

    def start(self) -> LiveView:
        view = self

        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S  # set on the socket before the request line is read

            def log_message(self, *args: Any) -> None:
                pass

            def _authorised(self) -> bool:
                if not view.token:
                    return True
                header = self.headers.get("Authorization", "")
                given = (
                    header[7:]
                    if header.startswith("Bearer ")
                    else (parse_qs(urlparse(self.path).query).get("token") or [""])[0]
                )
                return hmac.compare_digest(given.encode(), view.token.encode())

            def do_GET(self) -> None:
                if not self._authorised():
                    self.send_response(401)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"401: this live view needs its token (?token=... or Authorization: Bearer ...)\n")
                    return
                path = urlparse(self.path).path
                try:
                    if path == "/":
                        self._send(200, "text/html; charset=utf-8", (PAGE % {"query": view.query}).encode())
                    elif path == "/healthz":
                        health = {**view.health, **({"source_state": view.source_state()} if view.source_state else {})}
                        self._send(200, "application/json", json.dumps(health).encode())
                    elif path == "/events.jsonl":
                        self._send(
                            200,
                            "application/x-ndjson",
                            "".join(json.dumps(e) + "\n" for e in list(view.events)).encode(),
                        )
                    elif path == "/events":
                        view._serve_events(self)
                    elif path == "/stream.mjpg":
                        view._serve_stream(self)
                    else:
                        self._send(404, "text/plain", b"not found\n")
                except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
                    return

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        try:
            self._server = _BoundedServer((self.host, self.port), Handler)
        except OSError as error:
            in_use = error.errno == errno.EADDRINUSE
            raise InputError(
                f"--serve {self._authority}: cannot listen there ({error.strerror}); "
                + ("pick another port" if in_use else "give an address of this machine, e.g. 127.0.0.1 or [::1]")
            ) from None
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="live-view", daemon=True).start()
        threading.Thread(target=self._encode_loop, name="live-view-encoder", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._new_frame:
            self._new_frame.notify_all()
        with self._new_jpeg:
            self._new_jpeg.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _encode_loop(self) -> None:
        """Draw and encode the newest frame, only while someone watches, at most max_fps."""
        done = 0
        while not self._stop.is_set():
            with self._new_frame:
                self._new_frame.wait(timeout=0.5)
            with self._lock:
                image, box, sequence = self._overlay.image, self._overlay.box, self._overlay.sequence
            if image is None or sequence == done or self.viewers == 0:
                continue
            started = time.perf_counter()
            jpeg = cv2.imencode(".jpg", self._annotate(image, box), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
            with self._new_jpeg:
                self._jpeg, self._jpeg_sequence = jpeg, self._jpeg_sequence + 1
                self._new_jpeg.notify_all()
            done = sequence
            time.sleep(max(0.0, 1.0 / self.max_fps - (time.perf_counter() - started)))

    def _annotate(self, image: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
        frame = image.copy()  # the encoder's own copy: the pipeline's frame is never drawn on
        if box:
            x, y, w, h = box
            cv2.rectangle(frame, (x, y), (x + w, y + h), (0, 200, 0), 2)
        event = self._overlay.event
        scale = max(0.5, frame.shape[1] / 640)
        if event:
            text = f"{event['label']} {max(event['scores'].values()):.2f} @ {event['t_apex']:.1f}s"
            cv2.putText(
                frame,
                text,
                (10, int(28 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.7 * scale,
                (0, 0, 255),
                max(1, int(2 * scale)),
            )
        self._draw_energy(frame)
        return np.asarray(frame)

    def _draw_energy(self, frame: np.ndarray) -> None:
        """The spotting energy of the last frames as a strip chart along the bottom, its threshold dashed."""
        history = list(self._energy)
        if len(history) < 2:
            return
        height, width = frame.shape[:2]
        chart_h = max(30, height // 6)
        top = height - chart_h
        values = np.array([e for e, _ in history])
        limits = np.array([t for _, t in history])
        peak = max(float(values.max()), float(limits.max()), 1e-9) * 1.1
        region = frame[top:height]
        region[:] = (region * 0.4).astype(frame.dtype)
        xs = np.linspace(0, width - 1, len(history)).astype(np.int32)
        ys = (height - 1 - values / peak * (chart_h - 2)).astype(np.int32)
        cv2.polylines(frame, [np.stack([xs, ys], 1)], False, (0, 255, 255), 1)
        ts = (height - 1 - limits / peak * (chart_h - 2)).astype(np.int32)
        for i in range(0, len(xs) - 1, 4):
            cv2.line(frame, (int(xs[i]), int(ts[i])), (int(xs[i + 1]), int(ts[i + 1])), (0, 0, 255), 1)

    def _serve_stream(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        handler.connection.settimeout(10)  # a viewer that stops reading is dropped, never waited on forever
        with self._lock:
            self.viewers += 1
        with self._new_frame:
            self._new_frame.notify()
        sent = 0
        try:
            while not self._stop.is_set():
                with self._new_jpeg:
                    if self._jpeg_sequence == sent:
                        self._new_jpeg.wait(timeout=1.0)
                    jpeg, sequence = self._jpeg, self._jpeg_sequence
                if jpeg is None or sequence == sent:
                    continue
                handler.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                sent = sequence
        finally:
            with self._lock:
                self.viewers -= 1

    def _serve_events(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        handler.connection.settimeout(10)
        queue: deque[dict[str, Any]] = deque(list(self.events)[-20:], maxlen=100)
        self._subscribers.append(queue)
        try:
            last_beat = time.monotonic()
            while not self._stop.is_set():
                while queue:
                    handler.wfile.write(f"data: {json.dumps(queue.popleft())}\n\n".encode())
                if time.monotonic() - last_beat > 5:
                    handler.wfile.write(b": keep-alive\n\n")
                    last_beat = time.monotonic()
                handler.wfile.flush()
                time.sleep(0.1)
        finally:
            self._subscribers.remove(queue)
