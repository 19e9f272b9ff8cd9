"""The habits that keep the code base readable, run as tests so that CI (which runs the README's test
command) fails when one slips: ruff's lint and format, mypy (strict on the device side), and the
documentation site built with ``--strict`` (tests/cli/test_docs.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_ruff_lint_passes():
    result = _run(_tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_format_is_applied():
    result = _run(_tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout[-4000:]


@pytest.mark.slow
def test_mypy_passes_strict_on_the_device_side():
    """Configured in pyproject.toml: strict on mpt_edge/, mypy's default checks on train/, calibrate/, targets/."""
    result = _run(_tool("mypy"), timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_mypy_is_strict_on_mpt_edge_and_the_app():
    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index('module = ["mpt_edge", "mpt_edge.*", "app", "app.*"]') :]
    for flag in (
        "disallow_untyped_defs",
        "disallow_any_generics",
        "warn_return_any",
        "no_implicit_reexport",
        "strict_equality",
    ):
        assert f"{flag} = true" in block.split("[[", 1)[0], flag
