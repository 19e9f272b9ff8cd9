"""The train stage as Python calls: ``prepare``, ``train``, ``ablate``, ``evaluate``, ``export`` and
``score_spotting``. Each takes frozen dataclasses (:mod:`train.options`) and returns one; none prints.
Progress goes to an optional rich ``Progress`` and one-line messages to ``log``: the commands pass their
console's, a script passes nothing. torch is imported inside the calls, so importing this module is cheap.

>>> from train.api import train
>>> from train.options import RunSpec, TrainOptions
>>> result = train(RunSpec(options=TrainOptions(epochs=1)), out=Path("runs/x"))  # doctest: +SKIP
>>> result.scores.uf1                                                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpt_edge.errors import MptEdgeError
from mpt_edge.progress import Log, quiet
from train.metrics import Metrics
from train.options import DataSpec, RunSpec

if TYPE_CHECKING:
    from rich.progress import Progress

    from mpt_edge.bundle import BundleFiles
    from mpt_edge.spotting.offline import SpotOptions
    from train.data.long_videos import LongVideo
    from train.grid import GridSpec
    from train.spot_eval import SpottingEvaluation


@dataclass(frozen=True)
class TrainResult:
    """One training run: the pooled held-out scores of the model and of its baselines on the same clips."""

    out: Path
    wall_seconds: float
    scores: Metrics | None  # None: no fold held out any subject (protocol all)
    baselines: Mapping[str, Metrics]
    folds_finished: int
    folds_total: int
    complete: bool
    train_seconds: float
    alpha: float
    baseline_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def metrics_file(self) -> Path:
        return self.out / "metrics.json"

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``mpt-edge train --json`` prints."""

        def scores(m: Metrics | None) -> dict[str, Any]:
            return {k: getattr(m, k) if m else None for k in ("uf1", "uar", "accuracy", "samples")}

        row = {
            **scores(self.scores),
            "folds": f"{self.folds_finished}/{self.folds_total}",
            "complete": self.complete,
            "train_seconds": self.train_seconds,
            "alpha": self.alpha,
            "baselines": {name: scores(m) for name, m in self.baselines.items()},
            "metrics": str(self.metrics_file),
        }
        return {"out": str(self.out), "wall_seconds": self.wall_seconds, "runs": {"mpt": row}}


@dataclass(frozen=True)
class Spread:
    """One figure over the grid's splits: mean, standard deviation and each split's value."""

    mean: float
    std: float
    values: tuple[float, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Spread:
        data = data or {}
        values = tuple(float(v) for v in data.get("values", ()))
        return cls(float(data.get("mean", float("nan"))), float(data.get("std", float("nan"))), values)


@dataclass(frozen=True)
class GridCell:
    """A cell of the grid (prompt variant, ViT input, α): held-out UF1 of the model, its prompts' linear
    read-out and the flow baseline over the splits."""

    name: str
    variant: str
    vit_input: str
    alpha: float
    model: Spread
    probe: Spread
    flow: Spread


@dataclass(frozen=True)
class GridLoso:
    """A best cell rerun leave-one-subject-out: pooled UF1 of the model, its read-out and the flow baseline."""

    name: str
    model: float
    probe: float | None
    flow: float | None
    folds: int


@dataclass(frozen=True)
class GridResult:
    """The motion prompt grid (``--ablate``): every cell's held-out UF1, the ranking and the LOSO reruns;
    ``table`` is ``ablation.json`` as written (its layout: :func:`train.grid.run_grid`), the rest reads it typed."""

    out: Path
    wall_seconds: float
    table: Mapping[str, Any]

    @property
    def splits(self) -> int:
        return int(self.table["grid"]["splits"])

    @property
    def cells(self) -> dict[str, GridCell]:
        return {
            name: GridCell(
                name,
                str(row["variant"]),
                str(row["vit_input"]),
                float(row["alpha"]),
                *(Spread.from_dict(row.get(k)) for k in ("model", "probe", "flow")),
            )
            for name, row in self.table["cells"].items()
        }

    @property
    def ranking(self) -> tuple[str, ...]:
        """The cells with prompts, best held-out model UF1 first."""
        return tuple(self.table["ranking"])

    @property
    def loso(self) -> dict[str, GridLoso]:
        def optional(value: Any) -> float | None:
            return None if value is None else float(value)

        return {
            name: GridLoso(
                name, float(row["model"]), optional(row.get("probe")), optional(row.get("flow")), int(row["folds"])
            )
            for name, row in self.table["loso"].items()
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.table, "wall_seconds": self.wall_seconds}


@dataclass(frozen=True)
class EvalResult:
    """A checkpoint, a run's folds or a bundle scored on a data set: composite, per source set, baselines."""

    model: Path
    dataset: str
    class_names: tuple[str, ...]
    folds: int
    composite: Metrics
    per_source: Mapping[str, Metrics]
    baselines: Mapping[str, Metrics]
    baseline_labels: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``mpt-edge eval --json`` prints."""
        return {
            "model": str(self.model),
            "dataset": self.dataset,
            "class_names": list(self.class_names),
            "folds": self.folds,
            "composite": _metrics_dict(self.composite),
            "per_source": {k: _metrics_dict(v) for k, v in self.per_source.items()},
            "baselines": {
                k: {"label": self.baseline_labels.get(k, k), **_metrics_dict(v)} for k, v in self.baselines.items()
            },
        }


def _metrics_dict(metrics: Metrics) -> dict[str, Any]:
    data = asdict(metrics)
    data["per_class_f1"], data["per_class_recall"] = list(metrics.per_class_f1), list(metrics.per_class_recall)
    data["confusion"] = [list(row) for row in metrics.confusion]
    return data


@dataclass(frozen=True)
class PrepareResult:
    """A data set aligned once into a cache folder that ``train --root`` reads."""

    out: Path
    dataset: str
    detector: str
    clips: int
    reused: int
    alignment: Mapping[str, int]
    no_face_clips: tuple[str, ...]
    skipped: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "dataset": self.dataset,
            "detector": self.detector,
            "clips": self.clips,
            "reused": self.reused,
            "alignment": dict(self.alignment),
            "no_face": len(self.no_face_clips),
            "no_face_clips": list(self.no_face_clips),
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class ExportResult:
    """An ONNX model written and checked against PyTorch on real inputs."""

    out: Path
    bytes: int
    nodes: int
    inputs: Mapping[str, tuple[int, ...]]
    max_abs_logit_difference: float
    parity_inputs: int
    details: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.details)


def train(
    spec: RunSpec,
    data: DataSpec = DataSpec(),
    *,
    out: Path,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
    log: Log = quiet,
) -> TrainResult | None:
    """Train ``spec`` on ``data`` into the run folder ``out`` (checkpoints, metrics.json, predictions.csv,
    plots); resumable. Under ``torchrun`` every rank calls it and only rank 0 gets the result (others None)."""
    from train.baselines import BASELINES, LABELS

    metrics, seconds = _run(spec, data, None, out, resume, overwrite, device, progress, log)
    if metrics is None:
        return None
    pooled = metrics.get("pooled") or {}
    fitted = metrics.get("baselines", {})
    return TrainResult(
        out=out,
        wall_seconds=round(seconds, 1),
        scores=Metrics.from_dict(pooled) if pooled.get("uf1") is not None else None,
        baselines={
            name: Metrics.from_dict(fitted[name]["pooled"])
            for name in BASELINES
            if (fitted.get(name) or {}).get("pooled")
        },
        folds_finished=int(metrics["folds_finished"]),
        folds_total=int(metrics["folds_total"]),
        complete=bool(metrics["complete"]),
        train_seconds=float(metrics["train_seconds"]),
        alpha=float(metrics["alpha"]),
        baseline_labels=dict(LABELS),
    )


def ablate(
    spec: RunSpec,
    grid: GridSpec,
    data: DataSpec = DataSpec(),
    *,
    out: Path,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
    log: Log = quiet,
) -> GridResult:
    """The motion prompt grid (alpha x prompt variant x ViT input, plus no prompts) on held-out splits, then
    LOSO for the best cells (:mod:`train.grid`); writes ablation.md/.json/.png into ``out``; resumable."""
    table, seconds = _run(spec, data, grid, out, resume, overwrite, device, progress, log)
    assert table is not None  # the grid refuses torchrun, so this is rank 0
    return GridResult(out=out, wall_seconds=round(seconds, 1), table=table)


def _run(
    spec: RunSpec,
    data: DataSpec,
    grid: GridSpec | None,
    out: Path,
    resume: bool,
    overwrite: bool,
    device_name: str,
    progress: Progress | None,
    log: Log,
) -> tuple[dict[str, Any] | None, float]:
    import torch

    from train.configs import get_config
    from train.data.pairs import load_pairs
    from train.distributed import init_from_env, shutdown
    from train.grid import grid_size, run_grid
    from train.progress import EpochBars, counter
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
    if not dist.is_main:
        progress, log = None, quiet
    started = time.perf_counter()
    try:
        face_size = get_config(spec.model).image_size
        source = open_with_progress(
            progress,
            data.dataset,
            data.root,
            data.synthetic,
            data.skip_invalid,
            face_size,
            data.face_detector,
            log,
            require_faces=not data.allow_unaligned,
        )
        pairs = load_pairs(
            source.records, face_size, counter(progress, "decoding onset/apex frames", len(source.records))
        )
        if grid is not None:
            tick = _grid_ticker(progress, grid_size(grid))
            result = run_grid(spec, grid, pairs, source.class_names, source.identity, out, resume, device, log, tick)
        else:
            bars = progress
            reporter = (lambda fold: EpochBars(bars, fold.name, log)) if bars is not None else None
            result = run_training(
                spec, pairs, source.class_names, source.identity, out, resume, device, dist, reporter, log
            )
    finally:
        shutdown(dist)
    return (result if dist.is_main else None), time.perf_counter() - started


def _grid_ticker(bars: Progress | None, total: int) -> Callable[[str], None]:
    """One bar over the grid's runs, its status the last run's result."""
    if bars is None:
        return lambda _: None
    task = bars.add_task("ablation grid (runs)", total=total, status="")
    return lambda status: bars.update(task, advance=1, status=status)


def evaluate(
    model: Path,
    data: DataSpec = DataSpec(),
    *,
    baselines: bool = True,
    precision: str = "auto",
    server: str | None = None,
    progress: Progress | None = None,
    log: Log = quiet,
) -> EvalResult:
    """Score a run folder (each fold on the subjects it held out, pooled), a ``.pt`` checkpoint or a bundle
    folder (its engine) on ``data``; baselines are refitted on each fold's training subjects (run folders)."""
    from train.checkpoint import read_checkpoint
    from train.evaluate import evaluate as score
    from train.evaluate import first_model, total_predictions
    from train.progress import counter
    from train.session import open_with_progress, synthetic_of_run

    if not model.exists():
        raise MptEdgeError(f"{model} does not exist; pass a training run folder, a .pt checkpoint or a bundle folder")
    first = first_model(model)
    if first.is_dir():  # a bundle
        from mpt_edge.bundle import load_bundle

        face_size = load_bundle(first).motion_config.face_size
    else:
        face_size = int(read_checkpoint(first)["model_config"]["image_size"])
    synthetic = data.synthetic if data.synthetic is not None else synthetic_of_run(model)
    source = open_with_progress(
        progress, data.dataset, data.root, synthetic, data.skip_invalid, face_size, data.face_detector, log
    )
    tick = counter(progress, "predicting", total_predictions(model, source))
    result = score(model, source, tick=tick, baselines=baselines, precision=precision, server=server)
    return EvalResult(
        model=model,
        dataset=str(result["dataset"]),
        class_names=tuple(result["class_names"]),
        folds=int(result["folds"]),
        composite=Metrics.from_dict(result["composite"]),
        per_source={k: Metrics.from_dict(v) for k, v in result["per_source"].items()},
        baselines={k: Metrics.from_dict(v) for k, v in result["baselines"].items()},
        baseline_labels={k: str(v["label"]) for k, v in result["baselines"].items()},
    )


def prepare(
    dataset: str,
    root: Path,
    out: Path,
    *,
    face_size: int = 224,
    face_detector: str = "auto",
    skip_invalid: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    log: Log = quiet,
) -> PrepareResult:
    """Align and crop every clip's onset/apex pair of a data set once into ``out`` (resumable)."""
    from mpt_edge.faces import resolve_detector
    from mpt_edge.faces.align import FaceAligner
    from train.data.sources import read_raw
    from train.prepare import claim_cache_folder, prepare_records
    from train.progress import counter

    claim_cache_folder(out, overwrite)  # before the data set is read
    raw, classes = read_raw(dataset, root, skip_invalid)  # a malformed data set is the first thing said
    detector = resolve_detector(face_detector, log=log)
    for note in raw.notes:
        log(f"note: {note}")
    if raw.skipped:
        more = " ..." if len(raw.skipped) > 1 else ""
        log(f"[yellow]skipped {len(raw.skipped)} invalid clip(s) (--skip-invalid): {raw.skipped[0]}{more}")
    tick = counter(progress, f"aligning {dataset} faces ({detector})", len(raw.records))
    summary = prepare_records(
        raw.records, out, dataset, classes, FaceAligner(face_size, detector), root, tick, skip_invalid, overwrite
    )
    return PrepareResult(
        out=out,
        dataset=dataset,
        detector=detector,
        clips=summary.clips,
        reused=summary.reused,
        alignment=dict(summary.methods),
        no_face_clips=tuple(summary.no_face),
        skipped=len(raw.skipped) + len(summary.no_face),
    )


def export(
    checkpoint: Path, out: Path, *, dynamic_batch: bool = False, simplify: bool = True, overwrite: bool = False
) -> ExportResult:
    """Export a checkpoint to ONNX (opset 18), checked against PyTorch before it is written."""
    from train.export import check_export_target, export_onnx

    check_export_target(out, overwrite)
    summary = export_onnx(checkpoint, out, dynamic_batch, simplify)
    return ExportResult(
        out=out,
        bytes=int(summary["bytes"]),
        nodes=int(summary["nodes"]),
        inputs={k: tuple(v) for k, v in summary["inputs"].items()},
        max_abs_logit_difference=float(summary["max_abs_logit_difference"]),
        parity_inputs=int(summary["parity_inputs"]),
        details=summary,
    )


def score_spotting(
    dataset: str,
    root: Path | None,
    options: SpotOptions,
    *,
    bundle: BundleFiles | None = None,
    engine: Any = None,
    out: Path | None = None,
    plots: Path | None = None,
    on_video: Callable[[LongVideo], Callable[[int], None]] | None = None,
    log: Log = quiet,
) -> SpottingEvaluation:
    """Spot every video of a long-video set (CAS(ME)^2, SAMM LV, CAS(ME)^3) and score ours and the LBP
    baseline under the MEGC protocol; with ``out`` write spotting.json and intervals.jsonl there."""
    from train.spot_eval import evaluate_spotting, write_evaluation

    evaluation = evaluate_spotting(dataset, root, bundle, engine, options, plots, on_video, log)
    if out is not None:
        write_evaluation(out, evaluation)
    return evaluation
