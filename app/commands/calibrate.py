"""``mpt-edge calibrate``: options -> :func:`calibrate.api.calibrate` (an exported model + calibration data ->
INT8 model and FP32-vs-INT8 report) -> the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.commands.common import DATASET_HELP, ROOT_HELP, json_only_stdout, reporting, user_errors
from calibrate.api import DEFAULT_SIZE
from mpt_edge.faces import FACE_HELP
from train.options import DataSpec

if TYPE_CHECKING:
    from rich.console import Console

    from calibrate.api import CalibrationReport

DATA = DataSpec()


@user_errors
def calibrate(
    model: Path = typer.Argument(..., help="FP32 ONNX model from `mpt-edge export`."),
    backend: str = typer.Option(
        "openvino",
        "--backend",
        help=(
            "openvino (NNCF -> INT8 IR), tensorrt (Q/DQ INT8 ONNX, explicit quantization), "
            "onnxruntime (Q/DQ for ORT CPU)."
        ),
    ),
    out: Path = typer.Option(Path("int8"), "--out", "-o", help="Folder for the INT8 model and report_<backend>.json."),
    dataset: str = typer.Option(DATA.dataset, "--dataset", help=DATASET_HELP),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    size: int = typer.Option(
        DEFAULT_SIZE,
        "--calibration-size",
        "--size",
        help="Calibration clips (stratified by class and subject; all if fewer). --size: its old name, still accepted.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration draw."),
    max_drop: float | None = typer.Option(
        None,
        "--max-drop",
        help="openvino: keep sensitive layers in FP32 until held-out UF1 drops at most this much (e.g. 0.01).",
    ),
    face: str = typer.Option(DATA.face_detector, "--face", help=FACE_HELP),
    skip_invalid: bool = typer.Option(
        DATA.skip_invalid, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the accuracy report as JSON."),
) -> None:
    """Quantize an exported model to INT8 with a calibration set, and report FP32 vs INT8 accuracy."""
    from calibrate import api

    data = DataSpec(dataset=dataset, root=root, skip_invalid=skip_invalid, face_detector=face)
    with json_only_stdout(as_json), reporting(as_json) as (console, progress):
        report = api.calibrate(
            model,
            backend,
            out,
            data,
            size=size,
            seed=seed,
            max_drop=max_drop,
            progress=progress,
            log=console.print,
        )
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        _print_report(console, report)


def _print_report(console: Console, calibration: CalibrationReport) -> None:
    from rich.table import Table

    report = calibration.details
    table = Table(title=f"{calibration.backend} INT8 vs FP32 on {calibration.held_out_clips} held-out clips")
    for column in ("", "UF1", "UAR", "accuracy", "size MB"):
        table.add_column(column, justify="right")
    for name, m in (("fp32", calibration.fp32), ("int8", calibration.int8)):
        table.add_row(
            name.upper(), f"{m.uf1:.4f}", f"{m.uar:.4f}", f"{m.accuracy:.4f}", f"{report['bytes'][name] / 1e6:.1f}"
        )
    console.print(table)
    latency = ", ".join(f"{k} {v['p50']:.1f} ms" for k, v in report["latency_ms_batch1"].items())
    console.print(
        f"prediction agreement {calibration.agreement:.1%}; UF1 drop "
        f"{calibration.uf1_drop:+.4f}; latency p50 (batch 1): {latency}"
    )
    backbone = report["backbone"]
    console.print(
        f"backbone output ({backbone['clips']} clips): [CLS] cosine "
        f"{backbone['cls']['cosine_mean']:.4f} (min {backbone['cls']['cosine_min']:.4f}), "
        f"SQNR {backbone['cls']['sqnr_db']:.1f} dB; patch tokens cosine "
        f"{backbone['patch_tokens']['cosine_mean']:.4f}, SQNR "
        f"{backbone['patch_tokens']['sqnr_db']:.1f} dB"
    )
    worst = ", ".join(f"{r['tensor']} {r['sqnr_db']:.1f} dB" for r in report.get("most_sensitive_tensors", [])[:3])
    console.print(f"most quantization-sensitive tensors ({report['sensitivity_source']}): {worst}")
    console.print(f"wrote {calibration.int8_model} and {calibration.report_file}")
