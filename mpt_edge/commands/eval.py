"""``mpt-edge eval``: options -> :func:`train.cli_train.eval_command` (imported lazily: torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from mpt_edge.commands.common import (
    DATASET_HELP, PRECISION, ROOT_HELP, SYNTHETIC_CLASSES, SYNTHETIC_CLIPS, SYNTHETIC_SEED, SYNTHETIC_SUBJECTS, synthetic_spec, user_errors,
)
from mpt_edge.errors import MptEdgeError


@user_errors
def eval_(
    model: Path = typer.Argument(..., help="A training run folder (each fold scores its held-out subjects), a .pt checkpoint, or a bundle folder."),
    dataset: str = typer.Option("synthetic", "--dataset", help=DATASET_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
    synthetic_preset: Optional[str] = typer.Option(None, "--synthetic-preset", help="Synthetic set: easy or hard (default: the set a run folder was trained on, else easy)."),
    synthetic_subjects: Optional[int] = SYNTHETIC_SUBJECTS,
    synthetic_clips: Optional[int] = SYNTHETIC_CLIPS,
    synthetic_classes: Optional[int] = SYNTHETIC_CLASSES,
    synthetic_seed: int = SYNTHETIC_SEED,
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="For a run folder: refit the probe and flow baselines on each fold's training subjects and show them beside the model."),
    face: str = typer.Option("haar", "--face", help="Face alignment for raw real data: haar or none."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."),
    precision: str = PRECISION,
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """UF1 / UAR / accuracy of a checkpoint, a LOSO run or a built bundle, per source data set and composite."""
    if not model.exists():
        raise MptEdgeError(f"{model} does not exist; pass a training run folder, a .pt checkpoint or a bundle folder")
    from train.cli_train import eval_command, synthetic_of_run

    sizes = (synthetic_subjects, synthetic_clips, synthetic_classes)
    recorded = synthetic_of_run(model) if synthetic_preset is None and sizes == (None, None, None) and synthetic_seed == 0 else None
    synthetic = recorded or synthetic_spec(synthetic_preset or "easy", *sizes, synthetic_seed)
    result = eval_command(model_path=model, dataset=dataset, root=root, synthetic=synthetic, face_detector=face, skip_invalid=skip_invalid,
                          as_json=as_json, baselines=baselines, precision=precision)
    if as_json:
        typer.echo(json.dumps(result))
