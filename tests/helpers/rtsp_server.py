"""An RTSP server on 127.0.0.1 serving a video file (GStreamer's gst-rtsp-server), for the tests of
network sources. It runs under the *system* Python, whose PyGObject and GStreamer come from Debian
(`python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good`, installed by `.ci/run`); the
project's venv has neither. Frames are re-encoded as baseline 4:2:0 JPEG (quality 95) for RTP/JPEG
— the AVI's own quality-100 MJPG frames arrived garbled — and sent at the file's frame rate, like a
camera. Prints "ready" once it listens.

    /usr/bin/python3 tests/helpers/rtsp_server.py VIDEO.avi PORT
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    video, port = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{video}" ! avidemux ! jpegdec ! videoconvert ! '
        "video/x-raw,format=I420 ! jpegenc quality=95 ! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
