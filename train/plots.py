"""Pictures people would rather look at than JSON: the pooled confusion matrix and training curves.
matplotlib with the Agg backend (no display needed); files are written atomically."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.io import atomic_write_bytes


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    _figure().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: Path, title: str) -> Path:
    """Counts and row-normalised recall in each cell, true classes on the rows."""
    plt = _figure()
    counts = np.asarray(matrix, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.4 * len(class_names) + 2, 1.2 * len(class_names) + 1.5))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            ax.text(
                j,
                i,
                f"{counts[i, j]}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def plot_curves(
    histories: dict[str, list[dict[str, Any]]],
    path: Path,
    references: dict[str, float] | None = None,
    starts: dict[str, float] | None = None,
) -> Path:
    """Training loss and held-out UF1 per epoch, one line per fold (mean in bold when several);
    ``references`` (the baselines' pooled held-out UF1) are drawn as horizontal lines to beat, and
    ``starts`` (held-out UF1 before the first gradient step, per fold) at epoch 0."""
    plt = _figure()
    fig, (ax_loss, ax_uf1) = plt.subplots(1, 2, figsize=(10, 3.8))
    many = len(histories) > 1
    for name, history in histories.items():
        epochs = [h["epoch"] for h in history]
        style = {"alpha": 0.35, "linewidth": 1} if many else {"linewidth": 2}
        ax_loss.plot(epochs, [h["train_loss"] for h in history], **style)
        if history and "eval_uf1" in history[0]:
            before = [(0, (starts or {})[name])] if name in (starts or {}) else []
            xs, ys = zip(*(before + [(e, h["eval_uf1"]) for e, h in zip(epochs, history)]))
            ax_uf1.plot(
                xs,
                ys,
                label=None if many else "held-out UF1 (epoch 0: solved read-out)" if before else "held-out UF1",
                **style,
            )
        if history and "val_uf1" in history[0]:
            ax_uf1.plot(
                epochs,
                [h["val_uf1"] for h in history],
                linestyle="--",
                label=None if many else "validation UF1",
                **style,
            )
    if many:
        length = min(len(h) for h in histories.values())
        mean_loss = np.mean([[h["train_loss"] for h in hist[:length]] for hist in histories.values()], axis=0)
        ax_loss.plot(range(1, length + 1), mean_loss, color="black", linewidth=2, label="mean")
        with_eval = [hist for hist in histories.values() if hist and "eval_uf1" in hist[0]]
        if with_eval:
            mean_uf1 = np.mean([[h["eval_uf1"] for h in hist[:length]] for hist in with_eval], axis=0)
            ax_uf1.plot(
                range(1, length + 1), mean_uf1, color="black", linewidth=2, label="mean held-out UF1 (per fold)"
            )
    for (name, value), colour in zip((references or {}).items(), ("tab:red", "tab:green", "tab:purple")):
        ax_uf1.axhline(value, color=colour, linestyle=":", linewidth=1.5, label=f"{name} baseline {value:.3f}")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_uf1.set(xlabel="epoch", ylabel="UF1", title="held-out subjects", ylim=(0, 1.02))
    for ax in (ax_loss, ax_uf1):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    return _save(fig, path)


def plot_comparison(metrics: dict[str, dict[str, Any]], labels: dict[str, str], path: Path, title: str) -> Path:
    """Grouped bars of UF1 / UAR / accuracy: the model beside its baselines, same clips."""
    plt = _figure()
    keys = ("uf1", "uar", "accuracy")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / max(1, len(metrics))
    for i, (name, values) in enumerate(metrics.items()):
        xs = np.arange(len(keys)) + (i - (len(metrics) - 1) / 2) * width
        bars = ax.bar(xs, [values[k] for k in keys], width, label=labels.get(name, name))
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_xticks(range(len(keys)), ["UF1", "UAR", "accuracy"])
    ax.set(ylim=(0, 1.1), title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_overall_by_person(
    series: dict[str, tuple[Sequence[str], Sequence[float], float]], path: Path, title: str
) -> Path:
    """MEGC overall F1 per person (grouped bars), one series per spotter: name -> (people, F1 per person, pooled F1).
    Where a pooled figure hides whether every person gained or a few carried it."""
    for name, (who, values, _) in series.items():
        if len(who) != len(values):
            raise ValueError(f"{name}: {len(who)} people, {len(values)} figures")
    plt = _figure()
    people = list(next(iter(series.values()))[0])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(people) + 2), 3.8))
    width = 0.8 / len(series)
    for k, (name, (who, values, pooled)) in enumerate(series.items()):
        by_person = dict(zip(who, values, strict=True))
        heights = [by_person.get(p, 0.0) for p in people]
        place = np.arange(len(people)) + (k - (len(series) - 1) / 2) * width
        ax.bar(place, heights, width, label=f"{name} ({pooled:.3f})")
    ax.set_xticks(np.arange(len(people)), people)
    ax.set_ylim(0, 1)
    ax.set_ylabel("overall F1 (MEGC)")
    ax.set_title(title)
    ax.legend(title="spotter (pooled)", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
