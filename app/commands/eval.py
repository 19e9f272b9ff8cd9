"""``mpt-edge eval``: options -> :func:`train.api.evaluate` -> the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.commands.common import (
    DATASET_HELP,
    PRECISION,
    ROOT_HELP,
    SERVER,
    SYNTHETIC_CLASSES,
    SYNTHETIC_CLIPS,
    SYNTHETIC_SEED,
    SYNTHETIC_SUBJECTS,
    reporting,
    user_errors,
)
from mpt_edge.faces import FACE_HELP
from train.options import DataSpec, synthetic_set

if TYPE_CHECKING:
    from rich.console import Console

    from train.api import EvalResult

DATA = DataSpec()


@user_errors
def eval_(
    model: Path = typer.Argument(
        ...,
        help="A training run folder (each fold scores its held-out subjects), a .pt checkpoint, or a bundle folder.",
    ),
    dataset: str = typer.Option(DATA.dataset, "--dataset", help=DATASET_HELP),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    synthetic_preset: str | None = typer.Option(
        None,
        "--synthetic-preset",
        help="Synthetic set: easy, hard or realface (default: the set a run folder was trained on, else easy).",
    ),
    synthetic_subjects: int | None = SYNTHETIC_SUBJECTS,
    synthetic_clips: int | None = SYNTHETIC_CLIPS,
    synthetic_classes: int | None = SYNTHETIC_CLASSES,
    synthetic_seed: int = SYNTHETIC_SEED,
    baselines: bool = typer.Option(
        True,
        "--baselines/--no-baselines",
        help=(
            "For a run folder: refit the probe and flow baselines on each fold's training "
            "subjects and show them beside the model."
        ),
    ),
    face: str = typer.Option(DATA.face_detector, "--face", help=FACE_HELP),
    skip_invalid: bool = typer.Option(
        DATA.skip_invalid, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."
    ),
    precision: str = PRECISION,
    server: str | None = SERVER,
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """UF1 / UAR / accuracy of a checkpoint, a LOSO run or a built bundle, per source data set and composite."""
    from train import api

    sizes = (synthetic_subjects, synthetic_clips, synthetic_classes)
    recorded = (
        synthetic_preset is None and sizes == (None, None, None) and synthetic_seed == 0
    )  # the run's own set, where it says
    synthetic = None if recorded else synthetic_set(synthetic_preset or "easy", *sizes, synthetic_seed)
    data = DataSpec(dataset=dataset, root=root, synthetic=synthetic, skip_invalid=skip_invalid, face_detector=face)
    with reporting(as_json) as (console, progress):
        result = api.evaluate(
            model,
            data,
            baselines=baselines,
            precision=precision,
            server=server,
            progress=progress,
            log=console.print,
        )
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        _print_table(console, result, dataset, baselines)


def _print_table(console: Console, result: EvalResult, dataset: str, baselines: bool) -> None:
    from rich.table import Table

    table = Table(title=f"{dataset}: {result.folds} model(s) from {result.model}")
    for column in ("data set", "UF1", "UAR", "accuracy", "clips"):
        table.add_column(column, justify="left" if column == "data set" else "right")
    rows = list(result.per_source.items()) if len(result.per_source) > 1 else []
    for name, metrics in rows + [("composite" if rows else dataset, result.composite)]:
        table.add_row(name, f"{metrics.uf1:.4f}", f"{metrics.uar:.4f}", f"{metrics.accuracy:.4f}", str(metrics.samples))
    if result.baselines:  # short row names: the table must fit 80 columns
        table.caption = "; ".join(f"{name}: {result.baseline_labels.get(name, name)}" for name in result.baselines)
    for name, metrics in result.baselines.items():
        table.add_row(
            f"baseline: {name}",
            f"{metrics.uf1:.4f}",
            f"{metrics.uar:.4f}",
            f"{metrics.accuracy:.4f}",
            str(metrics.samples),
        )
    console.print(table)
    if baselines and not result.baselines:
        console.print("baselines: shown for run folders only (they are refitted on each fold's training subjects)")
