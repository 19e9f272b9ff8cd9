"""``mpt-edge train --ablate``: the motion-prompt grid that decides the shipped design by evidence.

Cells: magnification α × prompt variant (lk / patch / flow) × ViT input (apex / magnified), plus one
"without motion prompts" reference. Every cell is trained on the same ``splits`` held-out subject
splits (``--protocol holdout`` with seeds 0..splits-1: split, initial weights and batch order all
follow the seed) and reported as mean ± std with the probe and flow baselines of the same splits;
then the ``loso_cells`` best cells are run again leave-one-subject-out.

Fair and cheap enough for 2 CPU cores: every cell uses the same recipe — the prompt read-out solved
on the clean training prompts, then ``epochs`` epochs of fine-tuning without augmentation — so the
model inputs of a cell are computed once (``PairFeatures.inputs``) and sliced per batch. α = 0 makes
the magnified apex equal the apex, so (α = 0, magnified) is not trained twice.

Layout (resumable: a run folder with a complete metrics.json is not run again; an interrupted one
continues from its last epoch with ``--resume``)::

    OUT/ablation/<cell>/seed<k>/   one holdout run per cell and split (run.json, metrics.json, ...)
    OUT/ablation/loso/<cell>/      the best cells, leave-one-subject-out
    OUT/ablation.md, ablation.json, ablation.png
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.errors import MptEdgeError
from mpt_edge.io import atomic_write_bytes
from train.baselines import PairFeatures
from train.options import DEFAULT_ALPHAS, GridSpec  # noqa: F401  (re-exported)
from train.runner import RunSpec, run_training

NO_PROMPTS = "no-motion-prompts"


@dataclass(frozen=True)
class Cell:
    variant: str  # a prompt variant, or NO_PROMPTS
    vit_input: str
    alpha: float

    @property
    def name(self) -> str:
        if self.variant == NO_PROMPTS:
            return NO_PROMPTS
        return f"{self.variant}-{self.vit_input}-a{self.alpha:g}"

    def spec(self, base: RunSpec, seed: int, epochs: int, protocol: str = "holdout") -> RunSpec:
        options = replace(base.options, epochs=epochs, augment=False, seed=seed)
        if self.variant == NO_PROMPTS:
            return replace(base, motion_prompts=False, protocol=protocol, folds=None, options=options)
        return replace(
            base,
            alpha=self.alpha,
            prompt_variant=self.variant,
            vit_input=self.vit_input,
            motion_prompts=True,
            protocol=protocol,
            folds=None,
            options=options,
        )


def grid_cells(grid: GridSpec) -> list[Cell]:
    """Every cell once; (α = 0, magnified) is (α = 0, apex) and is left out."""
    cells = [
        Cell(v, i, float(a))
        for v in grid.variants
        for i in grid.vit_inputs
        for a in grid.alphas
        if not (a == 0 and i != grid.vit_inputs[0])
    ]
    return cells + ([Cell(NO_PROMPTS, "apex", 0.0)] if grid.include_no_prompts else [])


def _finished(folder: Path) -> dict[str, Any] | None:
    path = folder / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    return metrics if metrics.get("complete") else None


def _pooled(metrics: dict[str, Any]) -> dict[str, float]:
    row = {
        "model": metrics["pooled"]["uf1"],
        "model_uar": metrics["pooled"]["uar"],
        "seconds": metrics["train_seconds"],
    }
    for name, baseline in metrics.get("baselines", {}).items():
        row[name] = baseline["pooled"]["uf1"]
    return row


def _stats(values: Sequence[float]) -> dict[str, Any]:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "values": [round(float(v), 4) for v in values],
    }


def run_grid(
    base: RunSpec,
    grid: GridSpec,
    pairs: Any,
    class_names: list[str],
    data_identity: dict[str, Any],
    out: Path,
    resume: bool,
    device: Any,
    log: Callable[[str], None],
    tick: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train every cell on every split (skipping finished ones), then LOSO for the best cells;
    write ablation.md / .json / .png and return the summary."""
    root = out / "ablation"
    if not resume and root.is_dir() and any(root.rglob("run.json")):
        raise MptEdgeError(
            f"{out} already holds an ablation grid; pass --resume to continue it (finished "
            "runs are kept) or choose another --out"
        )
    features = PairFeatures(pairs)

    def finished_or_run(spec: RunSpec, folder: Path, announce: str = "") -> dict[str, Any]:
        metrics = _finished(folder)
        if metrics is None:
            if announce:
                log(announce)
            metrics = run_training(
                spec, pairs, class_names, data_identity, folder, resume, device, log=lambda *_: None, features=features
            )
        return metrics

    cells = grid_cells(grid)
    rows: dict[str, dict[str, Any]] = {}
    for cell in cells:
        per_split = []
        for seed in range(grid.splits):
            per_split.append(
                _pooled(finished_or_run(cell.spec(base, seed, grid.epochs), root / cell.name / f"seed{seed}"))
            )
            tick(f"{cell.name} seed {seed}: UF1 {per_split[-1]['model']:.3f}")
        rows[cell.name] = {
            "variant": cell.variant,
            "vit_input": cell.vit_input,
            "alpha": cell.alpha,
            **{
                key: _stats([s[key] for s in per_split if key in s])
                for key in ("model", "model_uar", "probe", "flow", "seconds")
            },
        }
        row = rows[cell.name]
        probe = f", probe {row['probe']['mean']:.3f}" if row["probe"]["values"] else ""
        log(f"{cell.name}: model UF1 {row['model']['mean']:.3f} ± {row['model']['std']:.3f}{probe}")
    ranked = sorted((c for c in cells if c.variant != NO_PROMPTS), key=lambda c: -rows[c.name]["model"]["mean"])
    loso = {}
    for cell in ranked[: grid.loso_cells]:
        metrics = finished_or_run(
            cell.spec(base, 0, grid.epochs, "loso"), root / "loso" / cell.name, f"LOSO: {cell.name}"
        )
        loso[cell.name] = {**_pooled(metrics), "folds": metrics["folds_total"]}
        tick(f"LOSO {cell.name}: UF1 {loso[cell.name]['model']:.3f}")
    summary = {
        "out": str(out),
        "grid": {
            **grid.__dict__,
            "alphas": list(grid.alphas),
            "variants": list(grid.variants),
            "vit_inputs": list(grid.vit_inputs),
        },
        "recipe": f"{base.model}, prompt read-out solved on clean prompts, then {grid.epochs} "
        "epochs of fine-tuning without augmentation; "
        f"holdout splits = seeds 0..{grid.splits - 1}",
        "cells": rows,
        "ranking": [c.name for c in ranked],
        "loso": loso,
        "train_seconds": round(
            sum(sum(r["seconds"]["values"]) for r in rows.values()) + sum(v["seconds"] for v in loso.values()), 1
        ),
    }
    write_grid_report(summary, out)
    return summary


def grid_size(grid: GridSpec) -> int:
    """Runs the progress bar counts: every cell on every split, then the LOSO cells."""
    return len(grid_cells(grid)) * grid.splits + grid.loso_cells


def _cell_text(stats: dict[str, Any]) -> str:
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}" if stats["values"] else "-"


def write_grid_report(summary: dict[str, Any], out: Path) -> None:
    """ablation.md (UF1 vs α tables for the model and its probe, the LOSO rows), ablation.json and
    ablation.png (UF1 against α per variant)."""
    rows = summary["cells"]
    alphas = summary["grid"]["alphas"]
    lines = [
        f"# Motion prompt grid ({summary['recipe']})",
        "",
        "Held-out UF1, mean ± std over the splits. Rows: prompt variant / ViT input; columns: magnification α.",
        "",
    ]
    for what, title in (("model", "model"), ("probe", "linear probe of the same prompts")):
        lines += [
            f"## {title}",
            "",
            "| variant | " + " | ".join(f"α = {a:g}" for a in alphas) + " |",
            "| --- |" + " --- |" * len(alphas),
        ]
        for variant in summary["grid"]["variants"]:
            for vit_input in summary["grid"]["vit_inputs"]:
                cells = []
                for alpha in alphas:
                    name = f"{variant}-{vit_input if alpha else summary['grid']['vit_inputs'][0]}-a{alpha:g}"
                    cells.append(_cell_text(rows[name][what]) if name in rows and what in rows[name] else "-")
                lines.append(f"| {variant} / {vit_input} | " + " | ".join(cells) + " |")
        lines.append("")
    flows = [r["flow"] for r in rows.values() if "flow" in r and r["flow"]["values"]]
    if flows:
        lines.append(
            f"Flow baseline (Farneback onset→apex + logistic regression, same splits): UF1 {_cell_text(flows[0])}."
        )
    if NO_PROMPTS in rows:
        lines.append(f"Without motion prompts: UF1 {_cell_text(rows[NO_PROMPTS]['model'])}.")
    lines.append("")
    if summary["loso"]:
        lines += [
            "## Leave-one-subject-out, best cells",
            "",
            "| cell | model UF1 | UAR | probe | flow | folds | train s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, row in summary["loso"].items():
            lines.append(
                f"| {name} | {row['model']:.3f} | {row['model_uar']:.3f} | "
                f"{row.get('probe', float('nan')):.3f} | {row.get('flow', float('nan')):.3f} | "
                f"{row['folds']} | {row['seconds']:.0f} |"
            )
        lines.append("")
    lines += [
        "## Every cell",
        "",
        "| cell | model UF1 | UAR | probe | flow | s / run |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in summary["ranking"] + ([NO_PROMPTS] if NO_PROMPTS in rows else []):
        row = rows[name]
        lines.append(
            f"| {name} | {_cell_text(row['model'])} | {_cell_text(row['model_uar'])} | "
            f"{_cell_text(row['probe']) if 'probe' in row else '-'} | "
            f"{_cell_text(row['flow']) if 'flow' in row else '-'} | {row['seconds']['mean']:.0f} |"
        )
    atomic_write_bytes(out / "ablation.md", ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(out / "ablation.json", (json.dumps(summary, indent=2) + "\n").encode())
    plot_grid(summary, out / "ablation.png")


def plot_grid(summary: dict[str, Any], path: Path) -> Path:
    """UF1 against α, one line (with ±std band) per prompt variant / ViT input; probes dashed; the
    flow baseline and the no-prompt model as horizontal references."""
    from train.plots import _figure, _save

    plt = _figure()
    rows = summary["cells"]
    first_input = summary["grid"]["vit_inputs"][0]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    k = 0
    for variant in summary["grid"]["variants"]:
        for vit_input in summary["grid"]["vit_inputs"]:
            names = [(a, f"{variant}-{vit_input if a else first_input}-a{a:g}") for a in summary["grid"]["alphas"]]
            points = [(a, rows[n]) for a, n in names if n in rows]
            if not points:
                continue
            colour = colours[k % len(colours)]
            k += 1
            xs = [a for a, _ in points]
            mean = np.array([r["model"]["mean"] for _, r in points])
            std = np.array([r["model"]["std"] for _, r in points])
            ax.plot(xs, mean, "o-", color=colour, label=f"{variant} / ViT sees {vit_input}")
            ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.12)
            if vit_input == first_input and all("probe" in r for _, r in points):
                ax.plot(
                    xs,
                    [r["probe"]["mean"] for _, r in points],
                    "--",
                    color=colour,
                    alpha=0.7,
                    label=f"{variant}: linear probe",
                )
    flows = [r["flow"]["mean"] for r in rows.values() if "flow" in r and r["flow"]["values"]]
    if flows:
        ax.axhline(flows[0], color="black", linestyle=":", label="flow baseline")
    if NO_PROMPTS in rows:
        ax.axhline(rows[NO_PROMPTS]["model"]["mean"], color="grey", linestyle="-.", label="no motion prompts")
    ax.set_xscale("symlog", linthresh=2)
    ax.set_xticks(summary["grid"]["alphas"], [f"{a:g}" for a in summary["grid"]["alphas"]])
    ax.set_xlabel("magnification α")
    ax.set_ylabel("held-out UF1 (mean ± std over splits)")
    ax.set_title("motion prompt variants vs α")
    ax.legend(fontsize=7, loc="best", ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)
