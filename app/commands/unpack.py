"""``mpt-edge unpack``: a bundle archive, unpacked safely (:func:`mpt_edge.bundle.unpack_bundle`)."""

from __future__ import annotations

from pathlib import Path

import typer

from app.commands.common import user_errors


@user_errors
def unpack(
    archive: Path = typer.Argument(..., help="A bundle .tar from `mpt-edge build --tar`."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to unpack into (new or empty)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a non-empty --out (only once the new bundle is unpacked and verified)."
    ),
) -> None:
    """Unpack a bundle safely: paths outside OUT, links and files whose hash differs are refused."""
    from mpt_edge.bundle import unpack_bundle

    bundle = unpack_bundle(archive, out, overwrite)
    typer.echo(f"unpacked {len(bundle.files)} verified files to {out} ({bundle.target_name})")
