"""The ``mpt-edge`` console entry point: checks for OpenCV before the CLI (which imports it at load)
is imported, so a device without it gets one line with the fix instead of a traceback.

OpenCV is an extra (``mpt-edge[opencv]``), not a base dependency: a Jetson must use JetPack's system
OpenCV (built with GStreamer for the CSI camera), which a pip ``opencv-python`` would shadow.
"""

from __future__ import annotations

import sys

from mpt_edge.signals import Terminated, install_sigterm_handler

OPENCV_MISSING = (
    "error: OpenCV is not installed. On a PC: pip install 'mpt-edge[opencv]'. On a Jetson: use JetPack's OpenCV "
    "(it has GStreamer) from a venv made with --system-site-packages (docs/targets.md: Deploying on a Jetson)"
)


def main() -> None:
    # SIGTERM is Ctrl-C from the first instant, before OpenCV, the engines and the CLI are imported: a
    # `kill` during the seconds of start-up ends in one line, not in the default action's silent exit
    # (the command boundary, app.commands.common.user_errors, keeps the same handler while it runs)
    install_sigterm_handler()
    try:
        from app.commands.common import EXIT_TERMINATED, EXIT_USER_ERROR, STOPPED_LINE

        try:
            import cv2  # noqa: F401
        except ImportError:
            print(OPENCV_MISSING, file=sys.stderr)
            raise SystemExit(EXIT_USER_ERROR) from None
        from app.cli import main as cli_main

        cli_main()
    except Terminated:
        from app.commands.common import EXIT_TERMINATED, STOPPED_LINE

        print(STOPPED_LINE, file=sys.stderr)
        raise SystemExit(EXIT_TERMINATED) from None
