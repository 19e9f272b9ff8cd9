"""Run a script of ``benchmarks/`` as its users do — its own process, this checkout importable — and read the
one JSON object it prints (the benchmarks' figures are theirs; the tests only hold that they keep running)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(script: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Any:
    """The JSON ``benchmarks/<script>`` prints with ``args``; ``env`` adds to this process's environment."""
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent), **(env or {})},
    ).stdout
    return json.loads(out)
