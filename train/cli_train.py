"""Body of ``mpt-edge train`` (the Typer options live in :mod:`mpt_edge.cli`, which imports this
lazily so the device install never loads torch)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import torch
from rich.console import Console
from rich.table import Table

from mpt_edge.errors import MptEdgeError
from mpt_edge.io import atomic_write_bytes
from train.data.pairs import load_pairs
from train.data.sources import open_dataset
from train.data.synthetic_folder import SyntheticSpec
from train.distributed import DistContext, init_from_env, shutdown
from train.progress import EpochBars, counter, make_progress
from train.runner import ABLATIONS, RunSpec, run_training, variant

_ABLATION_LABELS = {
    "mpt": "MPT (magnified motion prompts)",
    "no-magnification": "without magnification (alpha = 0)",
    "no-motion-prompts": "without motion prompts",
}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MptEdgeError("--device cuda: no CUDA device is visible to torch here; use --device cpu (or auto)")
    if name not in ("cpu", "cuda"):
        raise MptEdgeError(f"--device {name!r}: choose auto, cpu or cuda")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def train_command(
    *, dataset: str, root: Optional[Path], skip_invalid: bool, synthetic: SyntheticSpec, spec: RunSpec,
    out: Path, resume: bool, device_name: str, ablate: bool, as_json: bool,
) -> dict[str, Any]:
    device = resolve_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist = init_from_env(device)
    quiet = as_json or not dist.is_main
    console = Console(stderr=True, quiet=quiet)
    log = console.print if not quiet else (lambda *_: None)
    started = time.perf_counter()
    try:
        with make_progress(console) as progress:
            bars = None if quiet else progress
            tick = counter(bars, "generating synthetic set", synthetic.subjects * synthetic.clips_per_class * synthetic.classes)
            source = open_dataset(dataset, root, synthetic, skip_invalid, tick)
            if source.skipped:
                log(f"[yellow]skipped {len(source.skipped)} invalid clip(s) (--skip-invalid): {source.skipped[0]}{' ...' if len(source.skipped) > 1 else ''}")
            log(f"data: {len(source.records)} clips of {len({r.subject for r in source.records})} subjects from {source.root}")
            face_size = _face_size(spec)
            pairs = load_pairs(source.records, face_size, counter(bars, "decoding onset/apex frames", len(source.records)))
            variants = ABLATIONS if ablate else ("mpt",)
            results = {}
            for name in variants:
                run_spec = variant(spec, name)
                run_out = out / "ablation" / name if ablate else out
                if ablate:
                    log(f"[bold]ablation: {_ABLATION_LABELS[name]}")
                results[name] = run_training(
                    run_spec, pairs, source.class_names, source.identity, run_out, resume, device, dist,
                    (lambda fold: EpochBars(progress, fold.name, log)) if not quiet else None, log,
                )
    finally:
        shutdown(dist)
    if not dist.is_main:
        return {}
    summary = _summary(results, out, ablate, time.perf_counter() - started)
    if ablate:
        _write_ablation(summary, out)
    if not as_json:
        _print_summary(console if not quiet else Console(stderr=True), summary, ablate)
    return summary


def _face_size(spec: RunSpec) -> int:
    from train.configs import get_config

    return get_config(spec.model).image_size


def _summary(results: dict[str, dict[str, Any]], out: Path, ablate: bool, seconds: float) -> dict[str, Any]:
    rows = {}
    for name, metrics in results.items():
        pooled = metrics.get("pooled", {})
        rows[name] = {
            "label": _ABLATION_LABELS[name], "uf1": pooled.get("uf1"), "uar": pooled.get("uar"), "accuracy": pooled.get("accuracy"),
            "samples": pooled.get("samples"), "folds": f"{metrics['folds_finished']}/{metrics['folds_total']}",
            "complete": metrics["complete"], "train_seconds": metrics["train_seconds"],
            "metrics": str((out / "ablation" / name if ablate else out) / "metrics.json"),
        }
    return {"out": str(out), "wall_seconds": round(seconds, 1), "runs": rows}


def _write_ablation(summary: dict[str, Any], out: Path) -> None:
    lines = ["| variant | UF1 | UAR | accuracy | held-out clips | train s |", "| --- | --- | --- | --- | --- | --- |"]
    for row in summary["runs"].values():
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"| {row['label']} | {fmt(row['uf1'])} | {fmt(row['uar'])} | {fmt(row['accuracy'])} | {row['samples']} | {row['train_seconds']} |")
    atomic_write_bytes(out / "ablation.md", ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(out / "ablation.json", (json.dumps(summary, indent=2) + "\n").encode())


def _print_summary(console: Console, summary: dict[str, Any], ablate: bool) -> None:
    table = Table(title="ablation (held-out subjects)" if ablate else "held-out subjects, pooled")
    for column in ("variant", "UF1", "UAR", "accuracy", "clips", "folds", "train s"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in summary["runs"].values():
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        table.add_row(row["label"], fmt(row["uf1"]), fmt(row["uar"]), fmt(row["accuracy"]), str(row["samples"] or "-"), row["folds"], str(row["train_seconds"]))
    console.print(table)
    out = Path(summary["out"])
    written = [out / "metrics.json", out / "confusion.png", out / "curves.png", out / "best.pt"] if not ablate else [out / "ablation.md", out / "ablation.json"]
    console.print("wrote " + ", ".join(str(p) for p in written if p.exists()) + f" in {summary['wall_seconds']:.0f} s")
