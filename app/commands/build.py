"""``mpt-edge build``: options -> :func:`targets.api.build` (a checkpoint or ONNX model -> a deployable bundle)
-> one line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import DATASET_HELP, ROOT_HELP, console_for, json_only_stdout, user_errors
from calibrate.api import DEFAULT_SIZE
from mpt_edge.faces import FACE_HELP
from train.options import DataSpec

DATA = DataSpec()


@user_errors
def build(
    source: Path = typer.Argument(..., help="A checkpoint (.pt from `mpt-edge train`) or an exported model (.onnx)."),
    target: str = typer.Option(
        ...,
        "--target",
        "-t",
        help=(
            "jetson-orin, jetson-orin-nano, jetson-orin-dla, openvino-cpu, "
            "openvino-cpu-fp32, onnxruntime-cpu, onnxruntime-cpu-int8, triton-cpu, "
            "triton-gpu."
        ),
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to create (must not exist or be empty)."),
    dataset: str = typer.Option(DATA.dataset, "--dataset", help="Calibration data for INT8 targets. " + DATASET_HELP),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    calibration_size: int = typer.Option(
        DEFAULT_SIZE, "--calibration-size", help="INT8 calibration clips (stratified by class and subject)."
    ),
    work: Path | None = typer.Option(
        None,
        "--work",
        help="Folder for intermediate results, reused when their inputs' hashes match (default: beside --out).",
    ),
    face: str = typer.Option(DATA.face_detector, "--face", help=FACE_HELP),
    tar: bool = typer.Option(False, "--tar", help="Also pack the bundle as OUT.tar."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a non-empty --out (only once the new bundle is complete)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export, calibrate and build a deployable bundle for a target."""
    from targets import api

    console = console_for(as_json)
    with json_only_stdout(as_json):
        info = api.build(
            source,
            target,
            out,
            DataSpec(dataset=dataset, root=root, face_detector=face),
            calibration_size=calibration_size,
            work=work,
            tar=tar,
            overwrite=overwrite,
            log=console.print,
        )
    if as_json:
        typer.echo(json.dumps(info.as_dict()))
        return
    held = info.validation["held_out"]
    line = f"wrote bundle {out} for {target} ({info.backend}, {info.precision}): {', '.join(info.files)}"
    if "int8" in held:
        line += (
            f"; held-out UF1 FP32 {held['fp32']['uf1']:.3f} / INT8 {held['int8']['uf1']:.3f}, "
            f"agreement {held['agreement']:.1%}"
        )
    console.print(line)
