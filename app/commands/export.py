"""``mpt-edge export``: a checkpoint -> ONNX, checked against PyTorch (:func:`train.api.export`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.commands.common import user_errors


@user_errors
def export(
    checkpoint: Path = typer.Argument(
        ..., help="A .pt checkpoint written by `mpt-edge train` (e.g. runs/train/best.pt)."
    ),
    out: Path = typer.Option(Path("model.onnx"), "--out", "-o", help="Where to write the ONNX model."),
    dynamic_batch: bool = typer.Option(
        False, "--dynamic-batch", help="Batch dimension dynamic (default: static batch 1, what edge engines like)."
    ),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Simplify the graph with onnxslim."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace --out even if it is not a model mpt-edge exported."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export a trained checkpoint to ONNX (opset 18), checked against PyTorch before it is written."""
    from train import api

    result = api.export(checkpoint, out, dynamic_batch=dynamic_batch, simplify=simplify, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    shapes = ", ".join(f"{k} {tuple(v)}" for k, v in result.inputs.items())
    typer.echo(
        f"wrote {out} ({result.bytes / 1e6:.1f} MB, {result.nodes} nodes, inputs {shapes}); ONNX Runtime vs PyTorch "
        f"max |dlogit| {result.max_abs_logit_difference:.1e} on {result.parity_inputs} real inputs"
    )
