"""``mpt-edge calibrate``: an exported model + calibration data -> INT8 model and FP32-vs-INT8 report (:mod:`calibrate.run`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from mpt_edge.faces import FACE_HELP
from mpt_edge.commands.common import DATASET_HELP, ROOT_HELP, json_only_stdout, user_errors
from mpt_edge.errors import MptEdgeError


@user_errors
def calibrate(
    model: Path = typer.Argument(..., help="FP32 ONNX model from `mpt-edge export`."),
    backend: str = typer.Option("openvino", "--backend", "-b", help="openvino (NNCF -> INT8 IR), tensorrt (Q/DQ INT8 ONNX, explicit quantization), onnxruntime (Q/DQ for ORT CPU)."),
    out: Path = typer.Option(Path("int8"), "--out", "-o", help="Folder for the INT8 model and report_<backend>.json."),
    dataset: str = typer.Option("synthetic", "--dataset", help=DATASET_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
    size: int = typer.Option(300, "--size", help="Calibration clips (stratified by class and subject; all if fewer)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration draw."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", help="openvino: keep sensitive layers in FP32 until held-out UF1 drops at most this much (e.g. 0.01)."),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."),
    as_json: bool = typer.Option(False, "--json", help="Print the accuracy report as JSON."),
) -> None:
    """Quantize an exported model to INT8 with a calibration set, and report FP32 vs INT8 accuracy."""
    with json_only_stdout(as_json):
        report = run_calibrate(model=model, backend=backend, out=out, dataset=dataset, root=root, size=size, seed=seed,
                                   max_drop=max_drop, face_detector=face, skip_invalid=skip_invalid, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(report))


def run_calibrate(*, model: Path, backend: str, out: Path, dataset: str, root: Optional[Path], size: int, seed: int,
                      max_drop: Optional[float], face_detector: str, skip_invalid: bool, as_json: bool) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    from calibrate.run import calibrate_model
    from mpt_edge.onnx_meta import read_onnx_meta
    from train.data.pairs import load_pairs
    from train.progress import counter, make_progress
    from train.session import open_with_progress, synthetic_of_model

    from calibrate.sampling import check_size

    check_size(size, "--size")  # before the data is opened
    meta = read_onnx_meta(model)
    face_size = int(meta["motion_config"]["face_size"])
    console = Console(stderr=True, quiet=as_json)  # with --json, the CLI keeps stdout to the report (json_only_stdout)
    with make_progress(console) as progress:
        bars = None if as_json else progress
        synthetic = synthetic_of_model(meta) if root is None else None
        source = open_with_progress(bars, dataset, root, synthetic, skip_invalid, face_size, face_detector, console.print,
                                    trained_detector=(meta.get("training_data") or {}).get("detector"))
        if list(source.class_names) != list(meta["class_names"]):
            raise MptEdgeError(f"{model} predicts {meta['class_names']} but {dataset} has {source.class_names}; calibrate with the data it was trained on")
        pairs = load_pairs(source.records, face_size, counter(bars, "decoding onset/apex frames", len(source.records)))
    report = calibrate_model(model, backend, out, pairs, size, seed, max_drop, console.print)
    if not as_json:
        table = Table(title=f"{backend} INT8 vs FP32 on {report['held_out_clips']} held-out clips")
        for column in ("", "UF1", "UAR", "accuracy", "size MB"):
            table.add_column(column, justify="right")
        for name in ("fp32", "int8"):
            m = report[name]
            table.add_row(name.upper(), f"{m['uf1']:.4f}", f"{m['uar']:.4f}", f"{m['accuracy']:.4f}", f"{report['bytes'][name] / 1e6:.1f}")
        console.print(table)
        latency = ", ".join(f"{k} {v['p50']:.1f} ms" for k, v in report["latency_ms_batch1"].items())
        console.print(f"prediction agreement {report['agreement']:.1%}; UF1 drop {report['uf1_drop']:+.4f}; latency p50 (batch 1): {latency}")
        backbone = report["backbone"]
        console.print(
            f"backbone output ({backbone['clips']} clips): [CLS] cosine {backbone['cls']['cosine_mean']:.4f} (min {backbone['cls']['cosine_min']:.4f}), "
            f"SQNR {backbone['cls']['sqnr_db']:.1f} dB; patch tokens cosine {backbone['patch_tokens']['cosine_mean']:.4f}, SQNR {backbone['patch_tokens']['sqnr_db']:.1f} dB"
        )
        worst = ", ".join(f"{r['tensor']} {r['sqnr_db']:.1f} dB" for r in report.get("most_sensitive_tensors", [])[:3])
        console.print(f"most quantization-sensitive tensors ({report['sensitivity_source']}): {worst}")
        console.print(f"wrote {report['int8_model']} and {out / f'report_{backend}.json'}")
    return report
