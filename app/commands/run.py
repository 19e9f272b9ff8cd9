"""``mpt-edge run``: a camera or video through the bundle's pipeline, events out (:mod:`mpt_edge.stream.run`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import EXIT_USER_ERROR, ME_THRESHOLD, PRECISION, SERVER, user_errors
from mpt_edge.faces import FACE_HELP
from mpt_edge.spotting.spotter import SpotterConfig
from mpt_edge.stream.pipeline import PipelineConfig
from mpt_edge.stream.sources import OPEN_TIMEOUT_S
from mpt_edge.stream.summary import StreamSummary


@user_errors
def run(
    bundle: Path = typer.Option(..., "--bundle", "-b", help="A bundle folder from `mpt-edge build`."),
    source: str = typer.Option(
        "0",
        "--source",
        "-s",
        help=(
            "Camera index (0), video file, folder of frames (img1.jpg ...), rtsp:// URL, or "
            "GStreamer pipeline ('nvarguscamerasrc ! ... ! appsink')."
        ),
    ),
    events: Path | None = typer.Option(
        None, "--events", help="Append events as JSON lines to this file (default: stdout)."
    ),
    show: bool = typer.Option(False, "--show", help="Show the frames with face box and last event in a window."),
    record: Path | None = typer.Option(
        None, "--record", help="Write the annotated video here (opt-in: faces are biometric data)."
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames."),
    detect_every: int = typer.Option(
        PipelineConfig.detect_every,
        "--detect-every",
        min=1,
        help="Re-detect the face every N frames (the crop is held in between).",
    ),
    face: str = typer.Option(PipelineConfig.face_detector, "--face", help=FACE_HELP),
    precision: str = PRECISION,
    server: str | None = SERVER,
    open_timeout: float = typer.Option(
        OPEN_TIMEOUT_S,
        "--open-timeout",
        min=0.1,
        help="Seconds a network source may take to open or to deliver a frame before it counts as failed.",
    ),
    serve: str | None = typer.Option(
        None, "--serve", help="Serve a live view (annotated stream, events, health) at HOST:PORT, e.g. 127.0.0.1:8080."
    ),
    serve_token: str | None = typer.Option(
        None,
        "--serve-token",
        help="Token the live view requires (generated and printed once when binding a non-loopback address).",
    ),
    fps: float | None = typer.Option(
        None,
        "--fps",
        min=1.0,
        help=(
            "Frame rate of the source: a folder of frames (default 30), or the real rate of a file or camera "
            "whose header is wrong."
        ),
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help=(
            "Write an HTML session report here when the stream ends (timeline, every event "
            "with thumbnails): holds face images, opt-in."
        ),
    ),
    me_threshold: float | None = ME_THRESHOLD,
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stderr at the end."),
) -> None:
    """Stream a camera or video through spotting, magnification, tokenization and the engine; print events."""
    from mpt_edge.stream.run import RunOptions, run_stream

    if serve:
        from mpt_edge.stream.live_view import parse_bind

        parse_bind(serve)  # a bad --serve is refused before the bundle, the source or the events file are opened
    handle = open(events, "a", encoding="utf-8") if events else None
    try:
        options = RunOptions(
            show=show,
            record=record,
            max_frames=max_frames,
            pipeline=PipelineConfig(
                detect_every=detect_every, face_detector=face, spotter=SpotterConfig(me_threshold=me_threshold)
            ),
            precision=precision,
            open_timeout_s=open_timeout,
            serve=serve,
            serve_token=serve_token,
            server=server,
            fps=fps,
            report=report,
        )
        summary = run_stream(bundle, source, handle, options)
    finally:
        if handle:
            handle.close()
    if as_json or summary.frames or not summary.errors:  # a source refused at its first frame: the error alone
        typer.echo(json.dumps(summary.as_dict()) if as_json else _format_summary(summary), err=True)
    if summary.errors:
        raise typer.Exit(EXIT_USER_ERROR)


def _format_summary(summary: StreamSummary) -> str:
    latency = summary.latency_ms_apex_to_event
    return (
        f"{summary.frames} frames at {summary.fps} fps, {summary.events} events"
        + (f", apex->event p50 {latency.p50} ms p99 {latency.p99} ms" if latency else "")
        + (
            f"; {summary.blinks} blinks ({summary.blinks_per_minute} a minute), talking "
            f"{100 * summary.talking_share:.0f} % of the time"
            if summary.talking_share is not None and summary.blinks_per_minute is not None
            else ""
        )
        + f"; dropped {summary.dropped}, corrupt {summary.corrupt_frames}, no face {summary.no_face_frames} frames"
    )
