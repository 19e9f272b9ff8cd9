"""The system Python (Debian's, with PyGObject/GStreamer and a GStreamer-enabled OpenCV from apt,
installed by `.ci/run`) that the live-source tests run helpers and checks under, and a free port."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
ROOT = Path(__file__).resolve().parents[2]


def run_system_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``code`` under the system Python, with this checkout importable."""
    return subprocess.run(
        [SYSTEM_PYTHON, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def system_python_has(code: str) -> bool:
    try:
        return run_system_python(code, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def system_opencv_has_gstreamer() -> bool:
    """The project's own check (``opencv_has_gstreamer``), asked of the system Python's OpenCV."""
    return system_python_has(
        "import sys; from mpt_edge.stream.sources import opencv_has_gstreamer; "
        "sys.exit(0 if opencv_has_gstreamer() else 1)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
