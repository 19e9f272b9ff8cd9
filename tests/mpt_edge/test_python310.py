"""JetPack 6 ships Python 3.10 (and no 3.10 installs here): the code a device runs (``mpt_edge``, the
bundle scripts in ``targets``) is checked statically against it with vermin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def vermin(*paths: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())"]
    return subprocess.run(
        [*command, "-t=3.10-", "--violations", "--no-tips", "--eval-annotations", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_device_code_runs_on_python_3_10():
    result = vermin(ROOT / "mpt_edge", ROOT / "targets")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_catches_a_3_11_feature(tmp_path):
    (tmp_path / "new.py").write_text("import tomllib\n")  # added in Python 3.11
    result = vermin(tmp_path)
    assert result.returncode != 0 and "tomllib" in result.stdout, result.stdout + result.stderr
