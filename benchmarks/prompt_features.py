"""Which motion features carry a real face's expression: every prompt candidate read by the same linear
classifier, on the **training people only** of the real-face preset's holdout split, so that choosing the
shipped prompt variant (flow algorithm, token grid, window, α) never looks at a held-out person.

Protocol: the realface preset (16 people), the people that ``mpt-edge train --synthetic-preset realface
--seed SEED`` trains on (12), 4 folds grouped by person; in each fold standardise + balanced logistic
regression with C chosen by grouped CV over that fold's training people (``train.baselines.fit_classifier``,
the reports' own classifier); UF1 over the pooled predictions. Rows:

* ``oracle-aus``: the clip's true action units (multi-hot, from ``realface.json``): the ceiling;
* ``farneback-8x8``: today's flow baseline in every report;
* ``prompts-*``: the prompts a model receives (``model_inputs``'s variant at α);
* ``strain-*``: :func:`mpt_edge.motion.prompt_variants.strain_channels` (flow − global motion, magnitude,
  strain) by flow method, pooled by Gaussian windows (grid × σ) or by cells;
* ``au-stacked-*``: the same features read through the action units (issue 39: "region and AU structure
  might"): one logistic regression per AU on the features, trained on the clips' true AUs, and the reports'
  classifier on their out-of-fold probabilities — the classes are a logic of AUs (AU4 alone is "others", with
  AU7 "disgust"), which a linear reading of the motion cannot express.

    python benchmarks/prompt_features.py --out runs/prompt-features      # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from mpt_edge.io import default_cache
from mpt_edge.motion.config import MotionConfig
from mpt_edge.motion.images import as_float_image, to_gray
from mpt_edge.motion.magnify import magnify
from mpt_edge.motion.prompt_variants import FLOW_METHODS, strain_channels
from mpt_edge.motion.tokenize import gaussian_pool, gaussian_pooling_matrix, motion_inputs
from train.baselines import fit_classifier, flow_features
from train.data.pairs import PairSet, load_pairs
from train.data.sources import open_dataset
from train.metrics import summarize
from train.options import synthetic_set
from train.protocol import make_folds

FOLDS = 4
Features = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _magnified(onset: np.ndarray, apex: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Gray onset and apex magnified ×(1 + α) as the runtime makes it (float 0..1; no prompts computed)."""
    config = MotionConfig(alpha=alpha)
    magnified = magnify(
        onset,
        apex,
        alpha,
        levels=config.pyramid_levels,
        finest_level_gain=config.finest_level_gain,
        lowpass_gain=config.lowpass_gain,
    )
    return to_gray(as_float_image(onset)), to_gray(np.clip(magnified, 0.0, 1.0))


def prompts(variant: str, alpha: float, grid: int = 7) -> Features:
    config = MotionConfig(prompt_variant=variant, alpha=alpha, token_grid=grid)
    return lambda onset, apex: motion_inputs(onset, apex, config)[1].ravel()


def strain(method: str, alpha: float, grid: int, sigma_cells: float | None) -> Features:
    """Strain channels pooled over grid × grid Gaussian windows of σ = sigma_cells × the cell, or
    averaged over cells (``sigma_cells=None``)."""

    def features(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
        i0, i1 = _magnified(onset, apex, alpha)
        channels = strain_channels(i0, i1, method)
        if sigma_cells is None:
            pooled = cv2.resize(channels.transpose(1, 2, 0), (grid, grid), interpolation=cv2.INTER_AREA)
            return pooled.transpose(2, 0, 1).ravel()
        size = channels.shape[1]
        matrix = gaussian_pooling_matrix(size, grid, sigma_cells * size / grid)
        return gaussian_pool(channels, matrix, matrix).ravel()

    return features


def candidates() -> dict[str, Features]:
    rows: dict[str, Features] = {
        "farneback-8x8": lambda onset, apex: flow_features(onset, apex, 8),
        "prompts-lk-a2": prompts("lk", 2.0),
        "prompts-flow-a2": prompts("flow", 2.0),
    }
    for method in FLOW_METHODS:
        rows[f"strain-{method}-a0-g7"] = strain(method, 0.0, 7, 0.5)
    for alpha in (0.0, 2.0):
        for grid, sigma in ((7, 0.5), (14, 0.5), (14, 1.0), (16, None)):
            label = "cells" if sigma is None else f"s{sigma}"
            rows[f"strain-farneback-a{alpha:g}-g{grid}-{label}"] = strain("farneback", alpha, grid, sigma)
    rows["prompts-strain-a2-g7"] = prompts("strain", 2.0)
    rows["prompts-strain-a0-g7"] = prompts("strain", 0.0)
    rows["prompts-strain-a0-g14"] = prompts("strain", 0.0, 14)
    return rows


def oracle(pairs: PairSet, root: Path) -> np.ndarray:
    """Multi-hot true AUs of every clip (the generator's record)."""
    meta = json.loads((root / "realface.json").read_text())
    aus = {f"sub{int(c['subject']):02d}/{c['name']}": c["aus"] for c in meta["clips"]}
    codes = sorted({str(a) for values in aus.values() for a in values})
    rows = np.zeros((len(pairs), len(codes)), np.float32)
    for i, key in enumerate(pairs.keys):
        for au in aus["/".join(key.split("/")[-2:])]:
            rows[i, codes.index(str(au))] = 1.0
    return rows


def grouped_uf1(x: np.ndarray, pairs: PairSet, num_classes: int) -> dict[str, float]:
    """UF1 / UAR of pooled out-of-fold predictions, folds grouped by person, C by inner grouped CV."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(pairs.subjects)
    predictions = np.zeros(len(pairs), np.int64)
    for train_idx, test_idx in GroupKFold(FOLDS).split(x, pairs.labels, groups):
        model, _ = fit_classifier(x[train_idx], pairs.labels[train_idx], groups[train_idx].tolist())
        predictions[test_idx] = model.predict(x[test_idx].reshape(len(test_idx), -1))
    scores = summarize(pairs.labels, predictions, num_classes)
    return {"uf1": round(scores.uf1, 4), "uar": round(scores.uar, 4)}


def au_probabilities(x_train: np.ndarray, aus_train: np.ndarray, x_test: np.ndarray, c: float = 0.1) -> np.ndarray:
    """P(AU) of each test clip: one standardised logistic regression per AU (an AU that never or always
    occurs keeps its training rate)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = np.empty((len(x_test), aus_train.shape[1]))
    for j in range(aus_train.shape[1]):
        if aus_train[:, j].min() == aus_train[:, j].max():
            out[:, j] = aus_train[0, j]
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        out[:, j] = model.fit(x_train, aus_train[:, j]).predict_proba(x_test)[:, 1]
    return out


def au_stacked_uf1(x: np.ndarray, aus: np.ndarray, pairs: PairSet, num_classes: int) -> dict[str, float]:
    """:func:`grouped_uf1` with the classes read from AU probabilities: in each fold the AU models' out-of-fold
    probabilities on the fold's training people (3 inner folds by person) train the classifier, the AU models
    fitted on all of them give the test clips' probabilities. No held-out person is read."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(pairs.subjects)
    predictions = np.zeros(len(pairs), np.int64)
    for train_idx, test_idx in GroupKFold(FOLDS).split(x, pairs.labels, groups):
        inner = np.zeros((len(train_idx), aus.shape[1]))
        for a, b in GroupKFold(3).split(train_idx, groups=groups[train_idx]):
            inner[b] = au_probabilities(x[train_idx[a]], aus[train_idx[a]], x[train_idx[b]])
        model, _ = fit_classifier(inner, pairs.labels[train_idx], groups[train_idx].tolist())
        predictions[test_idx] = model.predict(au_probabilities(x[train_idx], aus[train_idx], x[test_idx]))
    scores = summarize(pairs.labels, predictions, num_classes)
    return {"uf1": round(scores.uf1, 4), "uar": round(scores.uar, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/prompt-features"))
    parser.add_argument("--seed", type=int, default=0, help="the holdout split whose training people are used")
    parser.add_argument("--only", default="", help="comma-separated candidate names (default: all)")
    parser.add_argument("--preset", default="realface", help="realface, or a drawn preset (hard, easy): no oracle")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / f"prompt-features-{args.preset}-seed{args.seed}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}

    spec = synthetic_set(args.preset, seed=0)
    source = open_dataset("synthetic", None, spec)
    folds = make_folds([r.subject for r in source.records], "holdout", seed=args.seed)
    held_out = set(folds[0].test_subjects)
    records = [r for r in source.records if r.subject not in held_out]
    pairs = load_pairs(records, 224)
    num_classes = len(source.class_names)
    print(f"{len(pairs)} clips of {len(set(pairs.subjects))} training people (held out, unused: {sorted(held_out)})")
    chosen = set(filter(None, args.only.split(",")))
    rows: dict[str, Features | None] = {"oracle-aus": None} if args.preset == "realface" else {}
    rows.update(candidates())
    # the clips' true AUs (the generator's record, realface only): the ceiling's row and what the stacked rows learn
    aus = oracle(pairs, default_cache() / spec.folder_name) if args.preset == "realface" else None
    if aus is not None:
        for stacked in ("prompts-strain-a2-g7", "strain-farneback-a0-g16-cells", "strain-farneback-a2-g16-cells"):
            rows[f"au-stacked-{stacked}"] = rows[stacked]
    for name, features in rows.items():
        if name in results or (chosen and name not in chosen):
            continue
        start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        if features is None:
            assert aus is not None
            x = aus
        else:
            x = np.stack([features(pairs.onsets[i], pairs.apexes[i]) for i in range(len(pairs))])
        feature_seconds = time.perf_counter() - start
        if name.startswith("au-stacked-"):
            assert aus is not None
            row = au_stacked_uf1(x, aus, pairs, num_classes)
        else:
            row = grouped_uf1(x, pairs, num_classes)
        used = resource.getrusage(resource.RUSAGE_SELF)
        row |= {
            "features": int(x.shape[1]),
            "ms_per_pair": round(1000 * feature_seconds / len(pairs), 2),
            "wall_s": round(time.perf_counter() - start, 1),
            "cpu_s": round(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime, 1),
        }
        results[name] = row
        print(json.dumps({name: row}), flush=True)
        tmp = results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        os.replace(tmp, results_path)
    machine = os.uname().machine
    print(json.dumps({"seed": args.seed, "machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
