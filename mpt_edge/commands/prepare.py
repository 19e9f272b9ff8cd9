"""``mpt-edge prepare``: align and crop every clip's onset/apex pair once (the train stage's :mod:`train.prepare`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from mpt_edge.faces import FACE_HELP
from mpt_edge.commands.common import OVERWRITE_HELP, user_errors


@user_errors
def prepare(
    dataset: str = typer.Argument(..., help="casme2, samm, smic, casme3 or megc2019."),
    root: Path = typer.Option(..., "--root", help="The data set folder as distributed (coding sheet + frame folders)."),
    out: Path = typer.Option(..., "--out", "-o", help="Cache folder for the aligned onset/apex pairs (resumable)."),
    face_size: int = typer.Option(224, "--face-size", help="Side of the aligned face crop in pixels (the model's input size)."),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip clips with annotation/frame problems, or no face on the onset, instead of stopping (each counted and named)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Align and crop every clip's onset/apex pair once, so training never re-decodes frames."""
    summary = run_prepare(dataset=dataset, root=root, out=out, face_size=face_size, face_detector=face, skip_invalid=skip_invalid, as_json=as_json, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(summary))


def run_prepare(
    *, dataset: str, root: Path, out: Path, face_size: int, face_detector: str, skip_invalid: bool, as_json: bool, overwrite: bool = False,
) -> dict[str, Any]:
    from rich.console import Console

    from mpt_edge.face import FaceAligner
    from mpt_edge.faces import resolve_detector
    from train.progress import counter, make_progress
    from train.data.sources import read_raw
    from train.prepare import claim_cache_folder, prepare_records

    claim_cache_folder(out, overwrite)  # before the data set is read
    console = Console(stderr=True, quiet=as_json)
    raw, classes = read_raw(dataset, root, skip_invalid)  # a malformed data set is the first thing said
    face_detector = resolve_detector(face_detector, log=console.print)
    aligner = FaceAligner(face_size, face_detector)
    for note in raw.notes:
        console.print(f"note: {note}")
    if raw.skipped:
        console.print(f"[yellow]skipped {len(raw.skipped)} invalid clip(s) (--skip-invalid): {raw.skipped[0]}{' ...' if len(raw.skipped) > 1 else ''}")
    with make_progress(console) as progress:
        summary = prepare_records(raw.records, out, dataset, classes, aligner, root,
                                  counter(None if as_json else progress, f"aligning {dataset} faces ({face_detector})", len(raw.records)), skip_invalid, overwrite)
    result = {"out": str(out), "dataset": dataset, "detector": face_detector, "clips": summary.clips, "reused": summary.reused,
              "alignment": summary.methods, "no_face": len(summary.no_face), "no_face_clips": list(summary.no_face),
              "skipped": len(raw.skipped) + len(summary.no_face)}
    if not as_json:
        console.print(
            f"wrote {summary.clips} aligned onset/apex pairs to {out} ({summary.reused} already there); {face_detector} alignment: "
            + (", ".join(f"{k} {v}" for k, v in sorted(summary.methods.items())) or "none")
        )
        if summary.no_face:
            console.print(f"[yellow]{len(summary.no_face)} clip(s) left out: no face found on the onset frame ({', '.join(summary.no_face[:3])}{' ...' if len(summary.no_face) > 3 else ''})")
    return result
