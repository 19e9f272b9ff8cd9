"""A device install, as a PC beside a Jetson has it: ``pip install '.[opencv]'`` in a venv of its own —
no ``train`` extra, so no torch, scikit-learn or onnx — runs every device command on a bundle built
here, and none of them loads torch or another module of the ``train`` extra (the CLI reads the stages'
option dataclasses, which import none of them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from train.data.synthetic_video import plan_events, render_stream, write_video

ROOT = Path(__file__).resolve().parents[2]
# Runs the CLI as the console script does and reports, at exit, which modules above the device were loaded.
PROBE = (
    "import atexit, sys\n"
    "above = ('torch', 'sklearn', 'onnx', 'nncf', 'matplotlib', 'openpyxl')\n"
    "atexit.register(lambda: print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & set(above)),"
    " file=sys.stderr))\n"
    "sys.argv = ['mpt-edge', *sys.argv[1:]]\n"
    "from app.entry import main\n"
    "main()\n"
)


@pytest.fixture(scope="module")
def device_python(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("device-venv")
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{ROOT}[opencv]"], capture_output=True, text=True, timeout=900
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return python


def _mpt_edge(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(python), "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.slow
def test_a_device_install_runs_every_device_command_without_a_stage(device_python, stream_model, tmp_path):
    missing = subprocess.run([str(device_python), "-c", "import torch"], capture_output=True, text=True)
    assert missing.returncode != 0, "the device venv must not have torch"
    bundle = stream_model / "bundle"
    from typer.testing import CliRunner

    from app.cli import app

    packed = CliRunner().invoke(
        app,
        [
            "build",
            str(stream_model / "run" / "best.pt"),
            "--target",
            "onnxruntime-cpu",
            "--out",
            str(tmp_path / "packed"),
            "--tar",
        ],
    )
    assert packed.exit_code == 0, packed.output
    truth = plan_events(150, [0, 1])  # seed 101: a drawn face the Haar cascade finds (as in test_stream)
    video = write_video(tmp_path / "stream.avi", render_stream(truth, 150, seed=101))
    calls = {
        "faces": ["faces", "list"],
        "unpack": ["unpack", str(tmp_path / "packed.tar"), "--out", str(tmp_path / "unpacked")],
        "bench": ["bench", str(bundle), "--seconds", "0.2", "--json"],
        "run": ["run", "--bundle", str(bundle), "--source", str(video), "--json"],
        "spot": ["spot", str(video), "--json"],
    }
    done = {}
    for name, args in calls.items():
        done[name] = _mpt_edge(device_python, *args, cwd=tmp_path)
        assert done[name].returncode == 0, (name, done[name].stdout[-2000:], done[name].stderr[-2000:])
        assert "LOADED []" in done[name].stderr, (name, done[name].stderr[-1000:])
    summary = json.loads(next(line for line in done["run"].stderr.splitlines() if line.startswith("{")))
    assert summary["frames"] == 150 and summary["events"] and done["run"].stdout.strip(), summary
    assert (tmp_path / "unpacked" / "manifest.json").is_file()
    refused = _mpt_edge(device_python, "train", "--epochs", "1", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "mpt-edge[train]" in refused.stderr + refused.stdout, refused.stderr[-1000:]
    assert sys.prefix != str(device_python.parent.parent)
