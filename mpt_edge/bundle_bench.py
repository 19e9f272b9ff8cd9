"""A bundle's engine timed at batch 1 on this machine: the precision the device would run, alone, and
where the bundle carries two models both, interleaved, as their own comparison. Device side: no torch."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any


def bench_bundle(
    bundle_path: Path,
    seconds: float,
    warmup: int,
    precision: str = "auto",
    log: Callable[..., None] = print,
    server: str | None = None,
) -> dict[str, Any]:
    """The precision the device would run (auto: measured once and cached), timed *alone* — what it
    runs like on the device — and, with two models in the bundle, both timed interleaved as a
    comparison of their own (``by_precision``): beside the other model's executions each runs slower
    (an openvino-cpu bundle's FP32 read ~10 % slower interleaved than alone)."""
    from mpt_edge.bundle import load_bundle
    from mpt_edge.engines import open_bundle_engine
    from mpt_edge.precision import interleaved_times, random_feeds, resolve_precision

    bundle = load_bundle(bundle_path)
    chosen = resolve_precision(bundle, precision, log)
    measured = [chosen, *sorted(set(bundle.models) - {chosen})]
    engines = {name: open_bundle_engine(bundle, precision=name, server=server) for name in measured}
    feeds = random_feeds(bundle)
    alone = _latency_figures(interleaved_times({chosen: engines[chosen]}, feeds, seconds, warmup, min_runs=10)[chosen])
    by_precision = {chosen: alone}
    if len(engines) > 1:
        times = interleaved_times(engines, feeds, seconds * len(engines), warmup, min_runs=10)
        by_precision = {name: _latency_figures(times[name]) for name in measured}
    if precision != "auto":
        chosen_by = "--precision"
    else:
        chosen_by = "auto (measured on this CPU)" if len(measured) > 1 else "bundle"
    result = {
        "bundle": str(bundle.root),
        "target": bundle.target_name,
        "backend": bundle.backend,
        "precision": chosen,
        **alone,
        "measured": "alone",
        "precision_chosen_by": chosen_by,
        "by_precision": by_precision,
        "by_precision_measured": "interleaved" if len(engines) > 1 else "alone",
    }
    return result


def _latency_figures(times: list[float]) -> dict[str, Any]:
    times = sorted(times)
    return {
        "runs": len(times),
        "latency_ms": {
            "p50": round(statistics.median(times), 3),
            "p99": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
            "mean": round(statistics.fmean(times), 3),
        },
        "throughput_per_s": round(1000 * len(times) / sum(times), 2),
    }
