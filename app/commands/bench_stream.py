"""``mpt-edge bench-stream``: a video replayed through the pipeline as fast as possible, figures as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import PRECISION, SERVER, user_errors
from mpt_edge.faces import FACE_HELP


@user_errors
def bench_stream(
    bundle: Path = typer.Option(..., "--bundle", "-b", help="A bundle folder from `mpt-edge build`."),
    video: str = typer.Argument(..., help="A video file, replayed as fast as possible."),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    precision: str = PRECISION,
    server: str | None = SERVER,
) -> None:
    """Replay a video through the pipeline as fast as possible; print fps, per-stage time, latency, memory as JSON."""
    import io

    from mpt_edge.stream.pipeline import PipelineConfig
    from mpt_edge.stream.run import RunOptions, require_file_source, run_stream

    require_file_source(video)
    options = RunOptions(pipeline=PipelineConfig(face_detector=face), precision=precision, server=server)
    summary = run_stream(bundle, video, io.StringIO(), options)
    typer.echo(json.dumps(summary.as_dict()))
