"""The motion benchmark must keep running and printing its JSON (its figures are not asserted here:
speed belongs to benchmarks, not tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_motion.py"


def test_bench_motion_prints_json_with_matching_outputs():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--pairs", "2", "--rounds", "1", "--size", "112"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    report = json.loads(out)
    assert set(report["pairs_per_s"]) >= {"fast_magnify_and_tokenize", "reference_magnify_and_tokenize"}
    assert all(rate > 0 for rate in report["pairs_per_s"].values())
    assert report["fast_vs_reference"]["max_abs_diff_magnified"] < 1e-5
    assert report["fast_vs_reference"]["max_abs_diff_tokens"] < 1e-5
    assert "peer_eulerian_magnification" in report
    assert set(report["prompt_variant_ms_per_pair"]) == {"lk", "patch", "flow", "strain"}
    assert all(ms > 0 for ms in report["prompt_variant_ms_per_pair"].values())
