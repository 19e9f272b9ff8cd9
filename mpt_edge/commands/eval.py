"""``mpt-edge eval``: options, then :func:`train.evaluate.evaluate` (imported lazily: torch), then the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from mpt_edge.faces import FACE_HELP
from mpt_edge.commands.common import (
    SERVER, DATASET_HELP, PRECISION, ROOT_HELP, SYNTHETIC_CLASSES, SYNTHETIC_CLIPS, SYNTHETIC_SEED, SYNTHETIC_SUBJECTS, synthetic_spec, user_errors,
)
from mpt_edge.errors import MptEdgeError

if TYPE_CHECKING:
    from train.data.synthetic_folder import SyntheticSpec


@user_errors
def eval_(
    model: Path = typer.Argument(..., help="A training run folder (each fold scores its held-out subjects), a .pt checkpoint, or a bundle folder."),
    dataset: str = typer.Option("synthetic", "--dataset", help=DATASET_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
    synthetic_preset: Optional[str] = typer.Option(None, "--synthetic-preset", help="Synthetic set: easy, hard or realface (default: the set a run folder was trained on, else easy)."),
    synthetic_subjects: Optional[int] = SYNTHETIC_SUBJECTS,
    synthetic_clips: Optional[int] = SYNTHETIC_CLIPS,
    synthetic_classes: Optional[int] = SYNTHETIC_CLASSES,
    synthetic_seed: int = SYNTHETIC_SEED,
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="For a run folder: refit the probe and flow baselines on each fold's training subjects and show them beside the model."),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."),
    precision: str = PRECISION,
    server: Optional[str] = SERVER,
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """UF1 / UAR / accuracy of a checkpoint, a LOSO run or a built bundle, per source data set and composite."""
    if not model.exists():
        raise MptEdgeError(f"{model} does not exist; pass a training run folder, a .pt checkpoint or a bundle folder")
    from train.session import synthetic_of_run

    sizes = (synthetic_subjects, synthetic_clips, synthetic_classes)
    recorded = synthetic_of_run(model) if synthetic_preset is None and sizes == (None, None, None) and synthetic_seed == 0 else None
    synthetic = recorded or synthetic_spec(synthetic_preset or "easy", *sizes, synthetic_seed)
    result = run_eval(model_path=model, dataset=dataset, root=root, synthetic=synthetic, face_detector=face, skip_invalid=skip_invalid,
                          as_json=as_json, baselines=baselines, precision=precision, server=server)
    if as_json:
        typer.echo(json.dumps(result))


def run_eval(*, model_path: Path, dataset: str, root: Optional[Path], synthetic: "SyntheticSpec", face_detector: str, skip_invalid: bool,
                 as_json: bool, baselines: bool = True, precision: str = "auto", server: Optional[str] = None) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    from train.checkpoint import read_checkpoint
    from train.evaluate import _jobs, evaluate, total_predictions
    from train.progress import counter, make_progress
    from train.session import open_with_progress

    first = _jobs(model_path)[0][1]
    if first.is_dir():  # a bundle
        from mpt_edge.bundle import load_bundle

        face_size = load_bundle(first).motion_config.face_size
    else:
        face_size = int(read_checkpoint(first)["model_config"]["image_size"])
    console = Console(stderr=True, quiet=as_json)
    with make_progress(console) as progress:
        bars = None if as_json else progress
        source = open_with_progress(bars, dataset, root, synthetic, skip_invalid, face_size, face_detector, console.print)
        result = evaluate(model_path, source, tick=counter(bars, "predicting", total_predictions(model_path, source)), baselines=baselines, precision=precision, server=server)
    if not as_json:
        table = Table(title=f"{dataset}: {result['folds']} model(s) from {model_path}")
        for column in ("data set", "UF1", "UAR", "accuracy", "clips"):
            table.add_column(column, justify="left" if column == "data set" else "right")
        rows = list(result["per_source"].items()) if len(result["per_source"]) > 1 else []
        for name, metrics in rows + [("composite" if rows else dataset, result["composite"])]:
            table.add_row(name, f"{metrics['uf1']:.4f}", f"{metrics['uar']:.4f}", f"{metrics['accuracy']:.4f}", str(metrics["samples"]))
        if result["baselines"]:  # short row names: the table must fit 80 columns
            table.caption = "; ".join(f"{name}: {metrics['label']}" for name, metrics in result["baselines"].items())
        for name, metrics in result["baselines"].items():
            table.add_row(f"baseline: {name}", f"{metrics['uf1']:.4f}", f"{metrics['uar']:.4f}", f"{metrics['accuracy']:.4f}", str(metrics["samples"]))
        console.print(table)
        if baselines and not result["baselines"]:
            console.print("baselines: shown for run folders only (they are refitted on each fold's training subjects)")
    return result
