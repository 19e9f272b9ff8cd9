"""The Jetson install path, checked statically (no Jetson and no Docker here): Dockerfile.jetson uses
JetPack's OpenCV and TensorRT instead of replacing them, the base install carries no OpenCV wheel, and
the documented CSI camera pipeline is valid GStreamer once NVIDIA's elements are stood in for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_the_base_install_carries_no_opencv_wheel_the_extra_does():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("opencv") for d in project["dependencies"])
    assert any(d.startswith("opencv-python") for d in project["optional-dependencies"]["opencv"])
    assert project["requires-python"] == ">=3.10" and project["scripts"]["mpt-edge"] == "app.entry:main"


def test_dockerfile_jetson_uses_what_jetpack_brings():
    from dockerfile_parse import DockerfileParser

    with open(ROOT / "Dockerfile.jetson", "rb") as handle:
        parser = DockerfileParser(fileobj=handle)
        structure = parser.structure
        base = parser.baseimage
    instructions = [item["instruction"] for item in structure if item["instruction"] != "COMMENT"]
    assert set(instructions) <= {"ARG", "FROM", "RUN", "WORKDIR", "COPY", "ENV", "ENTRYPOINT", "CMD"}, instructions
    assert base.startswith("nvcr.io/nvidia/l4t-jetpack:") and instructions[-2:] == ["ENTRYPOINT", "CMD"]
    runs = " ".join(item["value"] for item in structure if item["instruction"] == "RUN")
    assert "venv --system-site-packages" in runs and "GStreamer" in runs  # JetPack's OpenCV, checked at build time
    installs = " ".join(re.findall(r"pip install[^&]*", runs))
    assert "opencv" not in installs and "tensorrt" not in installs and "[" not in installs, installs
    readme = (ROOT / "docs" / "targets.md").read_text()
    assert "docker run --rm -it --runtime nvidia --device /dev/video0" in readme and "-f Dockerfile.jetson" in readme


def test_dockerfile_jetson_passes_hadolint():
    import shutil
    import sys

    linter = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [linter, "--no-color", str(ROOT / "Dockerfile.jetson")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def readme_csi_pipeline() -> str:
    match = re.search(r"--source '(nvarguscamerasrc[^']+)'", (ROOT / "docs" / "targets.md").read_text())
    assert match, "docs/targets.md has no CSI camera pipeline"
    return match.group(1)


def test_the_readme_csi_pipeline_is_valid_gstreamer():
    """nvarguscamerasrc/nvvidconv exist only on a Jetson: stood in for by videotestsrc/videoconvert,
    NVMM memory by system memory; the rest of the pipeline must parse and deliver BGR frames through
    the project's own capture code (with Debian's GStreamer-enabled OpenCV)."""
    from helpers.system import run_system_python, system_opencv_has_gstreamer

    if not system_opencv_has_gstreamer():
        pytest.skip("no OpenCV with GStreamer for the system Python (apt install python3-opencv)")
    pipeline = (
        readme_csi_pipeline()
        .replace("nvarguscamerasrc", "videotestsrc num-buffers=10")
        .replace("(memory:NVMM)", "")
        .replace("nvvidconv", "videoconvert")
    )
    script = (
        "import sys\n"
        "from mpt_edge.stream.sources import CaptureThread, parse_source\n"
        "capture = CaptureThread(parse_source(sys.argv[1]), max_reconnects=0).start()\n"
        "print([f.image.shape for f in capture][-1], len(capture.stats.errors))\n"
    )
    result = run_system_python(script, pipeline)
    assert result.returncode == 0 and result.stdout.startswith("(720, 1280, 3)"), (
        pipeline,
        result.stdout,
        result.stderr,
    )
