"""``mpt-edge demo``: options -> :func:`app.demo.demo` (train, build, stream a video, compare the events with
the truth) -> lines."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import reporting, user_errors
from app.demo import DemoOptions

DEMO = DemoOptions()


@user_errors
def demo(
    out: Path = typer.Option(
        DEMO.out, "--out", "-o", help="Folder for the run, the bundle and the demo video (reused if present)."
    ),
    target: str = typer.Option(DEMO.target, "--target", "-t", help="Bundle target to build and run."),
    epochs: int = typer.Option(DEMO.epochs, "--epochs", help="Training epochs (the default of `train`)."),
    events: int = typer.Option(DEMO.events, "--events", help="--drawn-face: micro-expressions in the demo video."),
    backbone_weights: Path | None = typer.Option(
        None,
        "--backbone-weights",
        help=(
            "Pretrained backbone weights (timm / Hugging Face ViT or DINOv2); the model "
            "config is the one that fits them."
        ),
    ),
    drawn_face: bool = typer.Option(
        False,
        "--drawn-face",
        help="The drawn synthetic face (the demo before real faces), not a real photograph animated by action units.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """The whole chain: train -> build -> stream a video of a real face (an animated photograph) -> events."""
    from app.demo import demo as run_demo

    options = DemoOptions(
        out=out, target=target, epochs=epochs, events=events, backbone_weights=backbone_weights, drawn_face=drawn_face
    )
    with reporting(False) as (console, progress):  # the steps are always shown, on stderr
        result = run_demo(options, console.print, progress)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for event in result.events:
        typer.echo(json.dumps(event.as_dict()))
    macro = result.macro_expressions
    fps = result.stream.fps
    if result.person is None:
        latency = result.stream.latency_ms_apex_to_event.p50 if result.stream.latency_ms_apex_to_event else None
        console.print(
            f"found {result.found}/{result.true_micro_expressions} micro-expressions (apex "
            f"within 3 frames), {result.labels_right} "
            f"with the right label, {result.false_micro_expressions} false"
            + (f", {macro['reported']} macro-expression(s)" if macro["reported"] else "")
            + f"; {fps} fps, apex->event p50 {latency} ms"
        )
    else:
        console.print(
            f"{result.person}: found {result.found}/{result.true_micro_expressions} "
            "micro-expressions (apex within 3 frames), "
            f"{result.labels_right} with the right label, {result.false_micro_expressions} "
            "false (blinks, talking and head moves "
            f"are in the video too); macro-expressions: {macro['reported']} reported, {macro['true']} true; {fps} fps"
        )
        console.print(f"the drawn-face demo: mpt-edge demo --drawn-face --out {out}")
    console.print(f"live view in a browser: {result.live_view_command}  (open http://127.0.0.1:8080/)")
