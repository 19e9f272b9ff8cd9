"""``mpt-edge train``: options, then :func:`run_train` (the train stage, imported lazily: torch), then the summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer

from mpt_edge.commands.common import (
    DATASET_HELP, ROOT_HELP, SYNTHETIC_CLASSES, SYNTHETIC_CLIPS, SYNTHETIC_PRESET, SYNTHETIC_SEED, SYNTHETIC_SUBJECTS,
    OVERWRITE_HELP, synthetic_spec, user_errors,
)
from mpt_edge.errors import MptEdgeError
from mpt_edge.faces import FACE_HELP
from mpt_edge.motion.config import DEFAULT_ALPHA

if TYPE_CHECKING:
    from rich.console import Console

    from train.data.synthetic_folder import SyntheticSpec
    from train.grid import GridSpec
    from train.runner import RunSpec


@user_errors
def train(
    dataset: str = typer.Option("synthetic", "--dataset", help=DATASET_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    allow_unaligned: bool = typer.Option(False, "--allow-unaligned", help="Train even on a prepared set where most clips were not aligned on a face."),
    synthetic_preset: str = SYNTHETIC_PRESET,
    synthetic_subjects: Optional[int] = SYNTHETIC_SUBJECTS,
    synthetic_clips: Optional[int] = SYNTHETIC_CLIPS,
    synthetic_classes: Optional[int] = SYNTHETIC_CLASSES,
    synthetic_seed: int = SYNTHETIC_SEED,
    model: str = typer.Option("mpt-tiny", "--model", "-m", help="Model config: mpt-tiny (ViT-Ti/16), mpt-small, mpt-base (the paper's ViT-B/16), mpt-small-dinov2 / mpt-base-dinov2 (DINOv2 ViT-S/14, ViT-B/14)."),
    backbone_weights: Optional[Path] = typer.Option(None, "--backbone-weights", help="Pretrained backbone weights, timm or Hugging Face layout (ViT/16 or DINOv2, .safetensors or state dict); default: random init."),
    alpha: float = typer.Option(DEFAULT_ALPHA, "--alpha", "-a", help="Motion magnification factor (0 = none)."),
    prompt_variant: str = typer.Option("lk", "--prompt-variant", help="How a Gaussian window becomes a prompt token: lk (Lucas-Kanade moments), patch (motion-map patches), flow (dense DIS optical flow)."),
    vit_input: str = typer.Option("apex", "--vit-input", help="What the ViT's patch tokens see: apex (the apex frame) or magnified (the magnified apex)."),
    motion_prompts: bool = typer.Option(True, "--motion-prompts/--no-motion-prompts", help="Use motion prompt tokens (off: the ablation)."),
    prompt_readout: bool = typer.Option(True, "--prompt-readout/--no-prompt-readout", help="A linear read-out of the standardised prompts beside the [CLS] head, solved first (linear probe) and then fine-tuned."),
    readout_lr_scale: float = typer.Option(0.0, "--readout-lr-scale", help="Learning rate of the prompt read-out relative to --lr while fine-tuning (0, the default: keep its solved optimum)."),
    probe_head: Optional[bool] = typer.Option(None, "--probe-head/--no-probe-head", help="Solve the [CLS] head (with the prompt read-out, if any) as one linear probe before fine-tuning (default: on with --backbone-weights and no prompt read-out, else off)."),
    train_backbone: bool = typer.Option(False, "--train-backbone", help="Also train the ViT's own weights (prompt tuning keeps them frozen)."),
    protocol: str = typer.Option("holdout", "--protocol", help="holdout (held-out subjects), loso (leave one subject out), all (train on everything, for deployment)."),
    test_fraction: float = typer.Option(0.25, "--test-fraction", help="holdout: share of subjects held out."),
    val_subjects: int = typer.Option(0, "--val-subjects", help="Subjects taken from training for selecting the best epoch (0: keep the last epoch)."),
    folds: Optional[str] = typer.Option(None, "--folds", help="Run only some folds: K/N (shard K of N), or a list like 0,3-5 or sub03."),
    epochs: int = typer.Option(3, "--epochs", help="Fine-tuning epochs per fold, after the solved read-out (3: as good as 12 on the hard preset, a quarter of the time; README)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Clips per optimisation step (across all DDP ranks)."),
    lr: float = typer.Option(1e-4, "--lr", help="Peak AdamW learning rate of fine-tuning (warm-up, then cosine to 0)."),
    weight_decay: float = typer.Option(0.05, "--weight-decay", help="AdamW weight decay."),
    class_balanced: bool = typer.Option(False, "--class-balanced", help="Weight the loss by inverse class frequency (imbalanced real data)."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Flip/affine/gain augmentation applied identically to onset and apex, while fine-tuning and when solving the prompt read-out."),
    seed: int = typer.Option(0, "--seed", help="Seed of initial weights, splits, batch order and augmentation."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also fit a linear probe of the motion prompts and a Farneback-flow classifier on every fold's split, and report them beside the model."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    out: Path = typer.Option(Path("runs/train"), "--out", "-o", help="Run folder: checkpoints, metrics.json, predictions.csv, plots."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ablate: bool = typer.Option(False, "--ablate", help="Run the motion prompt grid (alpha x prompt variant x ViT input, plus no prompts) on --ablate-splits held-out splits, then LOSO for the best cells; writes ablation.md/.json/.png. Resumable with --resume."),
    ablate_alphas: str = typer.Option("0,2,4,8,16", "--ablate-alphas", help="--ablate: magnification factors."),
    ablate_variants: str = typer.Option("lk,patch,flow", "--ablate-variants", help="--ablate: prompt variants."),
    ablate_vit_inputs: str = typer.Option("apex,magnified", "--ablate-vit-inputs", help="--ablate: ViT inputs."),
    ablate_splits: int = typer.Option(3, "--ablate-splits", help="--ablate: held-out subject splits per cell (seeds 0..N-1)."),
    ablate_epochs: int = typer.Option(2, "--ablate-epochs", help="--ablate: fine-tuning epochs per cell (no augmentation, so inputs are computed once per cell)."),
    ablate_loso: int = typer.Option(2, "--ablate-loso", help="--ablate: best cells run again leave-one-subject-out (0: none)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no progress bars)."),
) -> None:
    """Train MPT (holdout, LOSO or all subjects) on a data set or the built-in synthetic set."""
    from mpt_edge.motion.images import check_alpha

    check_alpha(alpha)
    from mpt_edge.motion.config import MotionConfig

    MotionConfig(prompt_variant=prompt_variant, vit_input=vit_input)  # a wrong name is a one-line error before any work
    from train.fit import TrainOptions, default_probe_head
    from train.runner import RunSpec

    options = TrainOptions(
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        class_balanced=class_balanced, augment=augment, seed=seed, readout_lr_scale=readout_lr_scale, train_backbone=train_backbone,
        probe_head=default_probe_head(backbone_weights, motion_prompts, prompt_readout) if probe_head is None else probe_head,
    )
    spec = RunSpec(
        model=model, alpha=alpha, prompt_variant=prompt_variant, vit_input=vit_input, motion_prompts=motion_prompts, prompt_readout=prompt_readout, backbone_weights=str(backbone_weights) if backbone_weights else None,
        protocol=protocol, test_fraction=test_fraction, val_subjects=val_subjects, folds=folds, options=options, baselines=baselines,
    )
    synthetic = synthetic_spec(synthetic_preset, synthetic_subjects, synthetic_clips, synthetic_classes, synthetic_seed)
    grid = None
    if ablate:
        from train.grid import GridSpec

        grid = GridSpec(
            alphas=_numbers(ablate_alphas, "--ablate-alphas"), variants=tuple(_csv(ablate_variants, "--ablate-variants")),
            vit_inputs=tuple(_csv(ablate_vit_inputs, "--ablate-vit-inputs")), splits=ablate_splits, epochs=ablate_epochs, loso_cells=ablate_loso,
        )
    summary = run_train(
        dataset=dataset, root=root, skip_invalid=skip_invalid, synthetic=synthetic, spec=spec,
        out=out, resume=resume, device_name=device, as_json=as_json, face_detector=face, grid=grid, allow_unaligned=allow_unaligned,
        overwrite=overwrite,
    )
    if as_json and summary:
        typer.echo(json.dumps(summary))


def _csv(text: str, option: str) -> list[str]:
    """A comma-separated option's items; an empty one is a one-line error."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise typer.BadParameter(f"{option} is empty")
    return items


def _numbers(text: str, option: str) -> tuple[float, ...]:
    """A comma-separated list of numbers; an item that is not one is a one-line error."""
    numbers = []
    for item in _csv(text, option):
        try:
            numbers.append(float(item))
        except ValueError:
            raise typer.BadParameter(f"{option}: {item!r} is not a number (e.g. 0,2,4,8,16)") from None
    return tuple(numbers)


def run_train(
    *, dataset: str, root: Optional[Path], skip_invalid: bool, synthetic: "SyntheticSpec", spec: "RunSpec",
    out: Path, resume: bool, device_name: str, as_json: bool, face_detector: str = "auto", grid: Optional["GridSpec"] = None,
    allow_unaligned: bool = False, overwrite: bool = False,
) -> dict[str, Any]:
    """One training run, or with a ``grid`` (``--ablate``) the motion prompt grid (:mod:`train.grid`);
    progress on stderr, the summary table after. Also what ``demo`` trains with."""
    import torch
    from rich.console import Console

    from train.configs import get_config
    from train.data.pairs import load_pairs
    from train.distributed import init_from_env, shutdown
    from train.grid import grid_size, run_grid
    from train.progress import EpochBars, counter, make_progress
    from train.runner import claim_run_folder, run_training
    from train.session import open_with_progress, resolve_device

    claim_run_folder(out, resume, overwrite, grid is not None)  # before any work: nothing of the user's is written over
    device = resolve_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist = init_from_env(device)
    if grid is not None and dist.enabled:
        shutdown(dist)
        raise MptEdgeError("--ablate runs its cells one after another in one process; start it without torchrun")
    quiet = as_json or not dist.is_main
    console = Console(stderr=True, quiet=quiet)
    log = console.print if not quiet else (lambda *_: None)
    started = time.perf_counter()
    try:
        with make_progress(console) as progress:
            bars = None if quiet else progress
            face_size = get_config(spec.model).image_size
            source = open_with_progress(bars, dataset, root, synthetic, skip_invalid, face_size, face_detector, log, require_faces=not allow_unaligned)
            pairs = load_pairs(source.records, face_size, counter(bars, "decoding onset/apex frames", len(source.records)))
            if grid is not None:
                tick = _grid_ticker(bars, grid_size(grid))
                summary = run_grid(spec, grid, pairs, source.class_names, source.identity, out, resume, device, log, tick)
            else:
                metrics = run_training(
                    spec, pairs, source.class_names, source.identity, out, resume, device, dist,
                    (lambda fold: EpochBars(progress, fold.name, log)) if not quiet else None, log,
                )
    finally:
        shutdown(dist)
    if not dist.is_main:
        return {}
    if grid is not None:
        summary["wall_seconds"] = round(time.perf_counter() - started, 1)
        if not as_json:
            print_grid_summary(console, summary)
        return summary
    summary = _summary(metrics, out, time.perf_counter() - started)
    if not as_json:
        _print_summary(console if not quiet else Console(stderr=True), summary)
    return summary


def _grid_ticker(bars: Optional[Any], total: int) -> Callable[[str], None]:
    """One bar over the grid's runs, its status the last run's result."""
    if bars is None:
        return lambda _: None
    task = bars.add_task("ablation grid (runs)", total=total, status="")
    return lambda status: bars.update(task, advance=1, status=status)


def _scores(pooled: dict[str, Any]) -> dict[str, Any]:
    return {"uf1": pooled.get("uf1"), "uar": pooled.get("uar"), "accuracy": pooled.get("accuracy"), "samples": pooled.get("samples")}


def _summary(metrics: dict[str, Any], out: Path, seconds: float) -> dict[str, Any]:
    row = {
        **_scores(metrics.get("pooled", {})),
        "folds": f"{metrics['folds_finished']}/{metrics['folds_total']}",
        "complete": metrics["complete"], "train_seconds": metrics["train_seconds"], "alpha": metrics["alpha"],
        "baselines": {b: _scores(v["pooled"]) for b, v in metrics.get("baselines", {}).items()},
        "metrics": str(out / "metrics.json"),
    }
    return {"out": str(out), "wall_seconds": round(seconds, 1), "runs": {"mpt": row}}


def _fmt(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(label, scores, train seconds) per line: the run, then its baselines on the same clips."""
    from train.baselines import BASELINES, LABELS as BASELINE_LABELS

    lines = []
    for row in summary["runs"].values():
        lines.append(("MPT (this model)", row, str(row["train_seconds"])))
        for name in BASELINES:
            if name in row["baselines"]:
                lines.append((f"  baseline: {BASELINE_LABELS[name]}", row["baselines"][name], "-"))
    return lines


def _print_summary(console: "Console", summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="held-out subjects, pooled")
    for column in ("", "UF1", "UAR", "accuracy", "clips", "train s"):
        table.add_column(column, justify="left" if not column else "right")
    for label, scores, seconds in _table_rows(summary):
        table.add_row(label, _fmt(scores["uf1"]), _fmt(scores["uar"]), _fmt(scores["accuracy"]), str(scores["samples"] or "-"), seconds)
    console.print(table)
    for row in summary["runs"].values():
        flow = row["baselines"].get("flow", {}).get("uf1")
        probe = row["baselines"].get("probe", {}).get("uf1")
        if row["uf1"] is not None and flow is not None and probe is not None and row["uf1"] < max(probe, flow - 0.02):
            console.print(f"[yellow]UF1 {row['uf1']:.3f} is below the baselines (probe {probe:.3f}, flow {flow:.3f}): "
                          "the model has not learned the motion as well as a linear classifier; see README 'What the model learns'")
    out = Path(summary["out"])
    written = [out / n for n in ("metrics.json", "predictions.csv", "confusion.png", "baselines.png", "curves.png", "best.pt")]
    console.print("wrote " + ", ".join(str(p) for p in written if p.exists()) + f" in {summary['wall_seconds']:.0f} s")


def print_grid_summary(console: "Console", summary: dict[str, Any]) -> None:
    """The grid's ranking (best first) and what it wrote."""
    from rich.table import Table

    table = Table(title=f"motion prompt grid: held-out UF1 over {summary['grid']['splits']} splits")
    for column in ("cell", "model", "probe", "flow"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    for name in summary["ranking"]:
        row = summary["cells"][name]
        table.add_row(name, *(f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}" if row.get(k, {}).get("values") else "-" for k in ("model", "probe", "flow")))
    console.print(table)
    for name, row in summary["loso"].items():
        console.print(f"LOSO {name}: UF1 {row['model']:.3f} (probe {row.get('probe', float('nan')):.3f}, flow {row.get('flow', float('nan')):.3f}, {row['folds']} folds)")
    out = Path(summary["out"])
    console.print(f"wrote {out / 'ablation.md'}, {out / 'ablation.json'}, {out / 'ablation.png'}")
