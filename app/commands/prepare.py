"""``mpt-edge prepare``: align and crop every clip's onset/apex pair once (:func:`train.api.prepare`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import OVERWRITE_HELP, reporting, user_errors
from mpt_edge.faces import FACE_HELP


@user_errors
def prepare(
    dataset: str = typer.Argument(..., help="casme2, samm, smic, casme3 or megc2019."),
    root: Path = typer.Option(..., "--root", help="The data set folder as distributed (coding sheet + frame folders)."),
    out: Path = typer.Option(..., "--out", "-o", help="Cache folder for the aligned onset/apex pairs (resumable)."),
    face_size: int = typer.Option(
        224, "--face-size", help="Side of the aligned face crop in pixels (the model's input size)."
    ),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help=(
            "Skip clips with annotation/frame problems, or no face on the onset, instead of "
            "stopping (each counted and named)."
        ),
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Align and crop every clip's onset/apex pair once, so training never re-decodes frames."""
    from train import api

    with reporting(as_json) as (console, progress):
        result = api.prepare(
            dataset,
            root,
            out,
            face_size=face_size,
            face_detector=face,
            skip_invalid=skip_invalid,
            overwrite=overwrite,
            progress=progress,
            log=console.print,
        )
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    alignment = ", ".join(f"{k} {v}" for k, v in sorted(result.alignment.items())) or "none"
    console.print(
        f"wrote {result.clips} aligned onset/apex pairs to {out} ({result.reused} already "
        f"there); {result.detector} alignment: {alignment}"
    )
    missing = result.no_face_clips
    if missing:
        more = " ..." if len(missing) > 3 else ""
        console.print(
            f"[yellow]{len(missing)} clip(s) left out: no face found on the onset frame "
            f"({', '.join(missing[:3])}{more})"
        )
