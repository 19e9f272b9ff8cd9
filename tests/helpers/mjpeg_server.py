"""An HTTP MJPEG server on 127.0.0.1 (what many IP cameras serve: ``multipart/x-mixed-replace`` of
JPEG frames), from the standard library only, replaying a video file in a loop at its frame rate.
It can be stopped and started again on the same port, to test reconnects for real."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
from helpers.system import free_port

BOUNDARY = b"mpteedgeframe"


def jpeg_frames(video: Path, quality: int = 95) -> list[bytes]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
    capture.release()
    return frames


class MjpegServer:
    def __init__(self, video: Path, fps: float = 30.0, port: int = 0) -> None:
        self.frames, self.fps = jpeg_frames(video), fps
        self.port = port or free_port()
        self.sent = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                self.end_headers()
                period, index = 1.0 / owner.fps, 0
                try:
                    while owner._server is not None:
                        frame = owner.frames[index % len(owner.frames)]
                        self.wfile.write(
                            b"--"
                            + BOUNDARY
                            + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(frame)).encode()
                            + b"\r\n\r\n"
                            + frame
                            + b"\r\n"
                        )
                        owner.sent += 1
                        index += 1
                        time.sleep(period)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Kill the server and every open stream (a camera that goes away)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
