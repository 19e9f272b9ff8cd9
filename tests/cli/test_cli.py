"""The CLI: version and `magnify` end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import fourier_translate, smooth_texture
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge import __version__

runner = CliRunner()


@pytest.fixture
def frame_pair(tmp_path):
    onset = smooth_texture(160, sigma=3.0)
    apex = onset.copy()
    apex[96:160, 40:120] = fourier_translate(onset, 0.4)[96:160, 40:120]
    paths = tmp_path / "onset.png", tmp_path / "apex.png"
    for path, frame in zip(paths, (onset, apex)):
        cv2.imwrite(str(path), np.dstack([(frame * 255).round().astype(np.uint8)] * 3))
    return paths


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"mpt-edge {__version__}"


def test_magnify_writes_four_panel_picture(frame_pair, tmp_path):
    onset, apex = frame_pair
    out = tmp_path / "side.png"
    result = runner.invoke(app, ["magnify", str(onset), str(apex), "--alpha", "8", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    picture = cv2.imread(str(out))
    assert picture.shape[1] == 4 * 160 and picture.shape[0] > 160
    assert summary["tokens"] == 49 and len(summary["token_features"]) == 49
    assert summary["strongest_token"]["row"] >= 4  # the motion is in the lower part of the face
    magnified_panel = picture[-160:, 320:480].astype(np.int16)
    apex_panel = picture[-160:, 160:320].astype(np.int16)
    assert (
        np.abs(magnified_panel - apex_panel)[96:, 40:120].mean() > 3 * np.abs(magnified_panel - apex_panel)[:48].mean()
    )
    assert not list(tmp_path.glob(".side.png.*"))  # no temp file left behind


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}", "{apex}"], "does not exist"),
        (["{garbage}", "{apex}"], "cannot decode image"),
        (["{onset}", "{small}"], "pass --size 224"),
        (["{onset}", "{apex}", "--alpha", "-1"], "alpha=-1.0 is invalid"),
        (["{onset}", "{apex}", "--out", "{tmp}/nodir/x.png"], "does not exist; create it first"),
        (["{onset}", "{apex}", "--out", "{tmp}/x.gif"], "unsupported picture type"),
    ],
)
def test_magnify_bad_input_is_one_line_exit_2(frame_pair, tmp_path, args, message):
    onset, apex = frame_pair
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a png at all")
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((50, 60, 3), np.uint8))
    names = dict(onset=onset, apex=apex, missing=tmp_path / "missing.png", garbage=garbage, small=small, tmp=tmp_path)
    result = runner.invoke(app, ["magnify", *[a.format(**names) for a in args]])
    assert result.exit_code == EXIT_USER_ERROR
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_console_script_runs_without_torch_imported(frame_pair, tmp_path):
    """The device side must not pull torch in; run the real entry point in a fresh interpreter."""
    onset, apex = frame_pair
    code = (
        "import sys; from app.cli import main; sys.argv=['mpt-edge','magnify',{!r},{!r},'--out',{!r}];\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'".format(str(onset), str(apex), str(tmp_path / "o.png"))
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_opencv_the_entry_point_says_how_to_get_it():
    """OpenCV is an extra (a Jetson uses JetPack's): its absence is one line with both fixes."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['cv2'] = None; sys.argv = ['mpt-edge', 'targets']; from app.entry import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert (
        "pip install 'mpt-edge[opencv]'" in result.stderr
        and "--system-site-packages" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )


def test_a_pickle_that_a_safe_load_refuses_is_one_line(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"format": "mpt-edge", "x": Evil()}))
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "export", str(tmp_path / "evil.pt"), "--out", str(tmp_path / "m.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EXIT_USER_ERROR
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert (
        len(lines) == 1 and "safe load refuses" in lines[0] and "evil.pt" in lines[0] and "pwned" not in result.stdout
    )


def test_build_into_an_existing_file_is_one_line(tmp_path):
    (tmp_path / "bundle").write_text("a file")
    result = runner.invoke(
        app, ["build", str(tmp_path / "absent.pt"), "--target", "onnxruntime-cpu", "--out", str(tmp_path / "bundle")]
    )
    assert result.exit_code == EXIT_USER_ERROR
    assert "is an existing file, not a folder" in result.output and "Traceback" not in result.output
