"""The motion benchmark must keep running and printing its JSON (its figures are not asserted here:
speed belongs to benchmarks, not tests)."""

from __future__ import annotations

from helpers.benchmarks import run_benchmark


def test_bench_motion_prints_json_with_matching_outputs():
    report = run_benchmark("bench_motion.py", "--pairs", "2", "--rounds", "1", "--size", "112")
    assert set(report["pairs_per_s"]) >= {"fast_magnify_and_tokenize", "reference_magnify_and_tokenize"}
    assert all(rate > 0 for rate in report["pairs_per_s"].values())
    assert report["fast_vs_reference"]["max_abs_diff_magnified"] < 1e-5
    assert report["fast_vs_reference"]["max_abs_diff_tokens"] < 1e-5
    assert "peer_eulerian_magnification" in report
    assert set(report["prompt_variant_ms_per_pair"]) == {"lk", "patch", "flow", "strain"}
    assert all(ms > 0 for ms in report["prompt_variant_ms_per_pair"].values())
