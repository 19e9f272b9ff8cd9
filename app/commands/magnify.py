"""``mpt-edge magnify``: onset | apex | magnified apex | motion heat map, to see what the motion prompts see."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import user_errors
from mpt_edge.motion.config import DEFAULT_ALPHA


@user_errors
def magnify(
    onset: Path = typer.Argument(..., help="Onset (neutral) frame: an aligned face image."),
    apex: Path = typer.Argument(..., help="Apex frame, same size as the onset."),
    alpha: float = typer.Option(DEFAULT_ALPHA, "--alpha", "-a", help="Magnification factor (>= 0)."),
    out: Path = typer.Option(Path("side_by_side.png"), "--out", "-o", help="Where to write the PNG/JPEG picture."),
    size: int | None = typer.Option(
        None, "--size", help="Resize both frames to SIZE x SIZE first (e.g. 224, the model's face size)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON summary (token features included) instead of text."
    ),
) -> None:
    """Write onset | apex | magnified apex | motion heat map, to see what the motion prompts see."""
    from mpt_edge.motion.visualize import write_magnified_picture

    picture = write_magnified_picture(onset, apex, alpha, out, size)
    if as_json:
        typer.echo(json.dumps(picture.as_dict(with_features=True)))
        return
    strongest, grid = picture.strongest_token, picture.config.token_grid
    typer.echo(
        f"wrote {out}: {picture.config.num_tokens} motion tokens, strongest at row "
        f"{strongest // grid} col {strongest % grid}, "
        f"max magnified flow {picture.max_flow_px:.2f} px"
    )
