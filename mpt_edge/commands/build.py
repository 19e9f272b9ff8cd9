"""``mpt-edge build``: a checkpoint or ONNX model -> a deployable bundle for one target (:mod:`targets.build`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from mpt_edge.faces import FACE_HELP
from mpt_edge.commands.common import DATASET_HELP, ROOT_HELP, json_only_stdout, user_errors


@user_errors
def build(
    source: Path = typer.Argument(..., help="A checkpoint (.pt from `mpt-edge train`) or an exported model (.onnx)."),
    target: str = typer.Option(..., "--target", "-t", help="jetson-orin, jetson-orin-nano, jetson-orin-dla, openvino-cpu, openvino-cpu-fp32, onnxruntime-cpu, onnxruntime-cpu-int8, triton-cpu, triton-gpu."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to create (must not exist or be empty)."),
    dataset: str = typer.Option("synthetic", "--dataset", help="Calibration data for INT8 targets. " + DATASET_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
    calibration_size: int = typer.Option(300, "--calibration-size", help="INT8 calibration clips (stratified by class and subject)."),
    work: Optional[Path] = typer.Option(None, "--work", help="Folder for intermediate results, reused when their inputs' hashes match (default: beside --out)."),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    tar: bool = typer.Option(False, "--tar", help="Also pack the bundle as OUT.tar."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --out (only once the new bundle is complete)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export, calibrate and build a deployable bundle for a target."""
    with json_only_stdout(as_json):
        summary = run_build(source=source, target=target, out=out, work=work, dataset=dataset, root=root, size=calibration_size, face_detector=face, tar=tar, as_json=as_json, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(summary))


def run_build(
    *, source: Path, target: str, out: Path, work: Optional[Path], dataset: str, root: Optional[Path], size: int, face_detector: str, tar: bool,
    as_json: bool, overwrite: bool = False,
) -> dict[str, Any]:
    from rich.console import Console

    from targets import get_target
    from targets.build import build_bundle

    profile = get_target(target)
    from calibrate.sampling import check_size

    check_size(size, "--calibration-size")
    console = Console(stderr=True, quiet=as_json)
    work = work or out.parent / f".{out.name}.work"

    def load_pairs(meta: dict[str, Any]):
        """The calibration clips for the exported model whose metadata ``meta`` is."""
        from train.data.pairs import load_pairs as decode
        from train.session import report_source, synthetic_of_model
        from train.data.sources import open_dataset

        face_size = int(meta["motion_config"]["face_size"])
        synthetic = synthetic_of_model(meta) if dataset == "synthetic" and root is None else None
        data = open_dataset(dataset, root, synthetic, False, None, face_size, face_detector,
                            trained_detector=(meta.get("training_data") or {}).get("detector"), log=console.print)
        report_source(data, console.print)
        return decode(data.records, face_size)

    data_key = {"dataset": dataset, "root": str(root.resolve()) if root else None, "face": face_detector}
    bundle = build_bundle(source, profile, out, work, load_pairs, size, tar, console.print, data_key, overwrite)
    summary = {"bundle": str(out), "target": target, "backend": bundle.backend, "precision": bundle.manifest["precision"],
               "files": sorted(bundle.manifest["files"]), "validation": bundle.manifest["validation"], "tar": str(out.with_suffix(".tar")) if tar else None}
    if not as_json:
        held = bundle.manifest["validation"]["held_out"]
        line = f"wrote bundle {out} for {target} ({bundle.backend}, {bundle.manifest['precision']}): {', '.join(summary['files'])}"
        if "int8" in held:
            line += f"; held-out UF1 FP32 {held['fp32']['uf1']:.3f} / INT8 {held['int8']['uf1']:.3f}, agreement {held['agreement']:.1%}"
        console.print(line)
    return summary
