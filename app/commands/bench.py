"""``mpt-edge bench``: a bundle's engine timed at batch 1 (:mod:`mpt_edge.bundle_bench`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import PRECISION, SERVER, user_errors


@user_errors
def bench(
    bundle: Path = typer.Argument(..., help="A bundle folder from `mpt-edge build`."),
    seconds: float = typer.Option(5.0, "--seconds", min=0.01, max=3600.0, help="How long to measure."),
    warmup: int = typer.Option(5, "--warmup", min=0, max=10_000, help="Untimed inferences first."),
    precision: str = PRECISION,
    server: str | None = SERVER,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Latency p50/p99 and throughput of a bundle's engine (batch 1); both precisions where it carries two."""
    from rich.console import Console

    from mpt_edge.bundle_bench import bench_bundle

    result = bench_bundle(bundle, seconds, warmup, precision, Console(stderr=True, quiet=as_json).print, server=server)
    if as_json:
        typer.echo(json.dumps(result))
        return
    rows = [(f"{result['precision']} (used, alone)", result)]
    if result["by_precision_measured"] == "interleaved":
        rows += [(f"{name} (interleaved)", figures) for name, figures in result["by_precision"].items()]
    for name, figures in rows:
        Console().print(
            f"{result['target']} ({result['backend']} {name}): p50 "
            f"{figures['latency_ms']['p50']:.2f} ms, p99 {figures['latency_ms']['p99']:.2f} "
            "ms, "
            f"{figures['throughput_per_s']:.1f} inferences/s over {figures['runs']} runs"
        )
