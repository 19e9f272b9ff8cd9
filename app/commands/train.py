"""``mpt-edge train``: options -> :func:`train.api.train` (or :func:`train.api.ablate`) -> the summary table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from app.commands.common import (
    DATASET_HELP,
    OVERWRITE_HELP,
    ROOT_HELP,
    SYNTHETIC_CLASSES,
    SYNTHETIC_CLIPS,
    SYNTHETIC_PRESET,
    SYNTHETIC_SEED,
    SYNTHETIC_SUBJECTS,
    reporting,
    user_errors,
)
from mpt_edge.faces import FACE_HELP
from mpt_edge.motion.config import DEFAULT_ALPHA, MotionConfig
from train.options import DataSpec, GridSpec, RunSpec, TrainOptions, synthetic_set

if TYPE_CHECKING:
    from rich.console import Console

    from train.api import GridResult, TrainResult

RUN = RunSpec()  # every option's default is read from the dataclasses (one place for each)
OPTIONS = TrainOptions()
DATA = DataSpec()
GRID = GridSpec()


@user_errors
def train(
    dataset: str = typer.Option(DATA.dataset, "--dataset", help=DATASET_HELP),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    skip_invalid: bool = typer.Option(
        DATA.skip_invalid, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."
    ),
    face: str = typer.Option(DATA.face_detector, "--face", help=FACE_HELP),
    allow_unaligned: bool = typer.Option(
        DATA.allow_unaligned,
        "--allow-unaligned",
        help="Train even on a prepared set where most clips were not aligned on a face.",
    ),
    synthetic_preset: str = SYNTHETIC_PRESET,
    synthetic_subjects: int | None = SYNTHETIC_SUBJECTS,
    synthetic_clips: int | None = SYNTHETIC_CLIPS,
    synthetic_classes: int | None = SYNTHETIC_CLASSES,
    synthetic_seed: int = SYNTHETIC_SEED,
    model: str = typer.Option(
        RUN.model,
        "--model",
        "-m",
        help=(
            "Model config: mpt-tiny (ViT-Ti/16), mpt-small, mpt-base (the paper's ViT-B/16), "
            "mpt-small-dinov2 / mpt-base-dinov2 (DINOv2 ViT-S/14, ViT-B/14)."
        ),
    ),
    backbone_weights: Path | None = typer.Option(
        None,
        "--backbone-weights",
        help=(
            "Pretrained backbone weights, timm or Hugging Face layout (ViT/16 or DINOv2, "
            ".safetensors or state dict); default: random init."
        ),
    ),
    alpha: float = typer.Option(DEFAULT_ALPHA, "--alpha", "-a", help="Motion magnification factor (0 = none)."),
    prompt_variant: str = typer.Option(
        MotionConfig.prompt_variant,
        "--prompt-variant",
        help=(
            "How a Gaussian window becomes a prompt token: lk (Lucas-Kanade moments), patch "
            "(motion-map patches), flow (dense DIS optical flow)."
        ),
    ),
    vit_input: str = typer.Option(
        MotionConfig.vit_input,
        "--vit-input",
        help="What the ViT's patch tokens see: apex (the apex frame) or magnified (the magnified apex).",
    ),
    token_grid: int = typer.Option(
        MotionConfig.token_grid,
        "--token-grid",
        help="Motion prompt tokens per side (Gaussian windows on a regular grid; at most face size / patch size).",
    ),
    token_sigma: float = typer.Option(
        MotionConfig.sigma_patches,
        "--token-sigma",
        help="Each Gaussian window's sigma, in patches (1 at the default 7 x 7 grid: half the windows' spacing).",
    ),
    read_mirrored: bool = typer.Option(
        MotionConfig.read_mirrored,
        "--read-mirrored/--read-once",
        help=(
            "Read each clip also mirrored (left and right swapped) and average the two readings' class "
            "scores; the bundle's device does the same (twice the prompt and engine work per event)."
        ),
    ),
    motion_prompts: bool = typer.Option(
        RUN.motion_prompts, "--motion-prompts/--no-motion-prompts", help="Use motion prompt tokens (off: the ablation)."
    ),
    prompt_readout: bool = typer.Option(
        RUN.prompt_readout,
        "--prompt-readout/--no-prompt-readout",
        help=(
            "A linear read-out of the standardised prompts beside the [CLS] head, solved "
            "first (linear probe) and then fine-tuned."
        ),
    ),
    readout_lr_scale: float = typer.Option(
        OPTIONS.readout_lr_scale,
        "--readout-lr-scale",
        help=(
            "Learning rate of the prompt read-out relative to --lr while fine-tuning (0, the "
            "default: keep its solved optimum)."
        ),
    ),
    probe_head: bool | None = typer.Option(
        None,
        "--probe-head/--no-probe-head",
        help=(
            "Solve the [CLS] head (with the prompt read-out, if any) as one linear probe "
            "before fine-tuning (default: on with --backbone-weights and no prompt read-out, "
            "else off)."
        ),
    ),
    train_backbone: bool = typer.Option(
        OPTIONS.train_backbone,
        "--train-backbone",
        help="Also train the ViT's own weights (prompt tuning keeps them frozen).",
    ),
    protocol: str = typer.Option(
        RUN.protocol,
        "--protocol",
        help="holdout (held-out subjects), loso (leave one subject out), all (train on everything, for deployment).",
    ),
    test_fraction: float = typer.Option(
        RUN.test_fraction, "--test-fraction", help="holdout: share of subjects held out."
    ),
    val_subjects: int = typer.Option(
        RUN.val_subjects,
        "--val-subjects",
        help="Subjects taken from training for selecting the best epoch (0: keep the last epoch).",
    ),
    folds: str | None = typer.Option(
        None, "--folds", help="Run only some folds: K/N (shard K of N), or a list like 0,3-5 or sub03."
    ),
    epochs: int = typer.Option(
        OPTIONS.epochs,
        "--epochs",
        help=(
            "Fine-tuning epochs per fold, after the solved read-out (3: as good as 12 on the "
            "hard preset, a quarter of the time; docs)."
        ),
    ),
    batch_size: int = typer.Option(
        OPTIONS.batch_size, "--batch-size", help="Clips per optimisation step (across all DDP ranks)."
    ),
    lr: float = typer.Option(
        OPTIONS.lr, "--lr", help="Peak AdamW learning rate of fine-tuning (warm-up, then cosine to 0)."
    ),
    weight_decay: float = typer.Option(OPTIONS.weight_decay, "--weight-decay", help="AdamW weight decay."),
    class_balanced: bool = typer.Option(
        OPTIONS.class_balanced,
        "--class-balanced",
        help="Weight the loss by inverse class frequency (imbalanced real data).",
    ),
    augment: bool = typer.Option(
        OPTIONS.augment,
        "--augment/--no-augment",
        help=(
            "Flip/affine/gain augmentation applied identically to onset and apex, while "
            "fine-tuning and when solving the prompt read-out."
        ),
    ),
    seed: int = typer.Option(
        OPTIONS.seed, "--seed", help="Seed of initial weights, splits, batch order and augmentation."
    ),
    baselines: bool = typer.Option(
        RUN.baselines,
        "--baselines/--no-baselines",
        help=(
            "Also fit a linear probe of the motion prompts and a Farneback-flow classifier "
            "on every fold's split, and report them beside the model."
        ),
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    out: Path = typer.Option(
        Path("runs/train"), "--out", "-o", help="Run folder: checkpoints, metrics.json, predictions.csv, plots."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ablate: bool = typer.Option(
        False,
        "--ablate",
        help=(
            "Run the motion prompt grid (alpha x prompt variant x ViT input, plus no "
            "prompts) on --ablate-splits held-out splits, then LOSO for the best cells; "
            "writes ablation.md/.json/.png. Resumable with --resume."
        ),
    ),
    ablate_alphas: str = typer.Option(
        ",".join(f"{a:g}" for a in GRID.alphas), "--ablate-alphas", help="--ablate: magnification factors."
    ),
    ablate_variants: str = typer.Option(
        ",".join(GRID.variants), "--ablate-variants", help="--ablate: prompt variants."
    ),
    ablate_vit_inputs: str = typer.Option(
        ",".join(GRID.vit_inputs), "--ablate-vit-inputs", help="--ablate: ViT inputs."
    ),
    ablate_splits: int = typer.Option(
        GRID.splits, "--ablate-splits", help="--ablate: held-out subject splits per cell (seeds 0..N-1)."
    ),
    ablate_epochs: int = typer.Option(
        GRID.epochs,
        "--ablate-epochs",
        help="--ablate: fine-tuning epochs per cell (no augmentation, so inputs are computed once per cell).",
    ),
    ablate_loso: int = typer.Option(
        GRID.loso_cells, "--ablate-loso", help="--ablate: best cells run again leave-one-subject-out (0: none)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no progress bars)."),
) -> None:
    """Train MPT (holdout, LOSO or all subjects) on a data set or the built-in synthetic set."""
    from mpt_edge.motion.images import check_alpha
    from train import api
    from train.options import default_probe_head

    check_alpha(alpha)
    options = TrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        class_balanced=class_balanced,
        augment=augment,
        seed=seed,
        readout_lr_scale=readout_lr_scale,
        train_backbone=train_backbone,
        probe_head=default_probe_head(backbone_weights, motion_prompts, prompt_readout)
        if probe_head is None
        else probe_head,
    )
    spec = RunSpec(
        model=model,
        alpha=alpha,
        prompt_variant=prompt_variant,
        vit_input=vit_input,
        read_mirrored=read_mirrored,
        token_grid=token_grid,
        token_sigma=token_sigma,
        motion_prompts=motion_prompts,
        prompt_readout=prompt_readout,
        backbone_weights=str(backbone_weights) if backbone_weights else None,
        protocol=protocol,
        test_fraction=test_fraction,
        val_subjects=val_subjects,
        folds=folds,
        options=options,
        baselines=baselines,
    )
    spec.motion_config()  # a wrong name or size is a one-line error before any work
    data = DataSpec(
        dataset=dataset,
        root=root,
        skip_invalid=skip_invalid,
        face_detector=face,
        allow_unaligned=allow_unaligned,
        synthetic=synthetic_set(
            synthetic_preset, synthetic_subjects, synthetic_clips, synthetic_classes, synthetic_seed
        ),
    )
    grid = None
    if ablate:
        grid = GridSpec(
            alphas=_parse_numbers(ablate_alphas, "--ablate-alphas"),
            variants=tuple(_parse_csv(ablate_variants, "--ablate-variants")),
            vit_inputs=tuple(_parse_csv(ablate_vit_inputs, "--ablate-vit-inputs")),
            splits=ablate_splits,
            epochs=ablate_epochs,
            loso_cells=ablate_loso,
        )
    with reporting(as_json) as (console, progress):
        outcome: TrainResult | GridResult | None
        if grid is not None:
            outcome = api.ablate(
                spec,
                grid,
                data,
                out=out,
                resume=resume,
                overwrite=overwrite,
                device=device,
                progress=progress,
                log=console.print,
            )
        else:
            outcome = api.train(
                spec,
                data,
                out=out,
                resume=resume,
                overwrite=overwrite,
                device=device,
                progress=progress,
                log=console.print,
            )
    if outcome is None:  # a non-main torchrun rank: rank 0 reports
        return
    if as_json:
        typer.echo(json.dumps(outcome.as_dict()))
    elif isinstance(outcome, api.GridResult):
        print_grid_summary(console, outcome)
    else:
        _print_summary(console, outcome)


def _parse_csv(text: str, option: str) -> list[str]:
    """A comma-separated option's items; an empty one is a one-line error."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise typer.BadParameter(f"{option} is empty")
    return items


def _parse_numbers(text: str, option: str) -> tuple[float, ...]:
    """A comma-separated list of numbers; an item that is not one is a one-line error."""
    numbers = []
    for item in _parse_csv(text, option):
        try:
            numbers.append(float(item))
        except ValueError:
            raise typer.BadParameter(f"{option}: {item!r} is not a number (e.g. 0,2,4,8,16)") from None
    return tuple(numbers)


def _format_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _format_rows(result: TrainResult) -> list[tuple[str, Any, str]]:
    """(label, scores, train seconds) per line: the run, then its baselines on the same clips."""
    lines: list[tuple[str, Any, str]] = [("MPT (this model)", result.scores, str(result.train_seconds))]
    for name, scores in result.baselines.items():
        lines.append((f"  baseline: {result.baseline_labels.get(name, name)}", scores, "-"))
    return lines


def _print_summary(console: Console, result: TrainResult) -> None:
    from rich.table import Table

    table = Table(title="held-out subjects, pooled")
    for column in ("", "UF1", "UAR", "accuracy", "clips", "train s"):
        table.add_column(column, justify="left" if not column else "right")
    for label, scores, seconds in _format_rows(result):
        values = (scores.uf1, scores.uar, scores.accuracy) if scores else (None, None, None)
        table.add_row(label, *(_format_score(v) for v in values), str(scores.samples) if scores else "-", seconds)
    console.print(table)
    probe = result.baselines.get("probe")
    flows = [result.baselines[n].uf1 for n in ("flow", "strain") if n in result.baselines]
    if (
        result.scores is not None
        and probe is not None
        and flows
        and result.scores.uf1 < max(probe.uf1, max(flows) - 0.02)
    ):
        console.print(
            f"[yellow]UF1 {result.scores.uf1:.3f} is below the baselines (probe {probe.uf1:.3f}, best flow "
            f"{max(flows):.3f}): the model has not learned the motion as well as a linear classifier; see the docs' "
            "'What the model learns'"
        )
    out = result.out
    written = [
        out / n for n in ("metrics.json", "predictions.csv", "confusion.png", "baselines.png", "curves.png", "best.pt")
    ]
    console.print("wrote " + ", ".join(str(p) for p in written if p.exists()) + f" in {result.wall_seconds:.0f} s")


def print_grid_summary(console: Console, result: GridResult) -> None:
    """The grid's ranking (best first) and what it wrote."""
    from rich.table import Table

    table = Table(title=f"motion prompt grid: held-out UF1 over {result.splits} splits")
    for column in ("cell", "model", "probe", "flow"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    cells = result.cells
    for name in result.ranking:
        cell = cells[name]
        table.add_row(
            name,
            *(f"{s.mean:.3f} ± {s.std:.3f}" if s.values else "-" for s in (cell.model, cell.probe, cell.flow)),
        )
    console.print(table)
    for name, row in result.loso.items():
        probe, flow = (f"{v:.3f}" if v is not None else "-" for v in (row.probe, row.flow))
        console.print(f"LOSO {name}: UF1 {row.model:.3f} (probe {probe}, flow {flow}, {row.folds} folds)")
    console.print(f"wrote {result.out / 'ablation.md'}, {result.out / 'ablation.json'}, {result.out / 'ablation.png'}")
