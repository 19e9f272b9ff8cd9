"""A training run end to end: data -> folds -> fit each fold -> pooled metrics, plots, best checkpoint.

Output folder::

    OUT/run.json                 what was asked (data, model, protocol, options); checked on --resume
    OUT/folds/<fold>/last.pt     resume checkpoint, rewritten atomically after every epoch
    OUT/folds/<fold>/best.pt     the fold's selected model, with its config
    OUT/folds/<fold>/result.json the fold's history and held-out predictions (written when it ends)
    OUT/metrics.json             UF1/UAR/accuracy per fold and pooled over every finished fold
    OUT/confusion.png, OUT/curves.png
    OUT/best.pt                  the model to export (holdout / all protocols)

Folds that already have a ``result.json`` are skipped on ``--resume``; several jobs may shard one
LOSO run with ``--folds K/N`` into the same OUT and the last one to finish pools all of them.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpt_edge import __version__
from mpt_edge.errors import MptEdgeError
from mpt_edge.io import atomic_write_bytes, spreadsheet_safe
from mpt_edge.motion.config import MotionConfig
from train.baselines import BASELINES, LABELS, PairFeatures
from train.configs import MPTConfig, get_config
from train.data.pairs import PairSet
from train.distributed import DistContext
from train.fit import FoldData, FoldPlace, FoldTrainer, Reporter
from train.metrics import pooled_loso
from train.model import MPT
from train.options import RunSpec, TrainOptions, previous_identity, resolved_alpha  # noqa: F401  (re-exported)
from train.plots import plot_comparison, plot_confusion, plot_curves
from train.protocol import Fold, make_folds, select_folds


def resolve_configs(spec: RunSpec, num_classes: int) -> tuple[MPTConfig, MotionConfig]:
    """The model and motion configs a run spec stands for (defaults filled in): what provenance records."""
    cfg = get_config(
        spec.model, num_classes=num_classes, use_motion_prompts=spec.motion_prompts, prompt_readout=spec.prompt_readout
    )
    return cfg, spec.motion_config()


def build_model(spec: RunSpec, num_classes: int, face_size: int, log: Callable[[str], None]) -> MPT:
    cfg, motion = resolve_configs(spec, num_classes)
    if cfg.image_size != face_size:
        raise MptEdgeError(
            f"the data has {face_size}px faces but {cfg.name} needs {cfg.image_size}px; "
            f"regenerate/prepare the data at {cfg.image_size}px"
        )
    torch.manual_seed(spec.options.seed)  # identical initial weights in every fold and on every rank
    model = MPT(cfg, motion)
    if spec.backbone_weights:
        from train.weights import load_backbone_weights

        counts = load_backbone_weights(model, spec.backbone_weights)
        log(f"backbone: {counts['loaded']} tensors from {spec.backbone_weights}")
    else:
        log(
            "backbone: no --backbone-weights given, starting from a random init (frozen); "
            "fine for the synthetic set, use timm ViT weights for real data"
        )
    return model


def _write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def claim_run_folder(out: Path, resume: bool, overwrite: bool = False, grid: bool = False) -> None:
    """Refuse, before any work, an --out that ``train`` would damage: a file, a bundle, a folder of files
    no training run wrote (someone's best.pt), or ``--resume`` of a run that does not exist.
    ``overwrite``: the user accepts that such files are written over."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MptEdgeError(f"--out {out} is an existing file, not a folder; choose a folder for the run")
    if (out / "manifest.json").is_file():
        raise MptEdgeError(f"--out {out} is a bundle, not a training run; choose another --out")
    ours = (out / "run.json").is_file() or (grid and (out / "ablation").is_dir())
    if resume and not ours:
        raise MptEdgeError(
            f"--resume: {out} holds no training run to continue (no run.json); drop --resume to start one there"
        )
    if not ours and out.is_dir() and any(out.iterdir()) and not overwrite:
        first = sorted(p.name for p in out.iterdir())[0]
        raise MptEdgeError(
            f"--out {out} holds files mpt-edge train did not write ({first}, ...); choose another --out, "
            "or pass --overwrite to write the run over them"
        )


def check_run_folder(out: Path, identity: dict[str, Any], same_run_allowed: bool) -> None:
    """A fresh OUT, or (with --resume or --folds) the same run: never silently mix two runs in one folder."""
    run_file = out / "run.json"
    if not run_file.is_file():
        return
    identity = json.loads(json.dumps(identity))  # as run.json stores it (tuples become lists)
    if not same_run_allowed:
        raise MptEdgeError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    try:
        previous = json.loads(run_file.read_text())["identity"]
    except (ValueError, KeyError) as error:
        raise MptEdgeError(f"{run_file} is unreadable ({error}); delete {out} to start over") from None
    if isinstance(previous, dict) and "alpha" in previous:  # as this version writes it (train.options)
        previous = previous_identity(previous)
    if previous != identity:
        changed = sorted(k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k))
        raise MptEdgeError(
            f"--resume: {out} was trained with different {', '.join(changed)}; use the "
            "original options or another --out"
        )


def run_training(
    spec: RunSpec,
    pairs: PairSet,
    class_names: list[str],
    data_identity: dict[str, Any],
    out: Path,
    resume: bool = False,
    device: torch.device = torch.device("cpu"),
    dist: DistContext = DistContext(),
    reporter_for: Callable[[Fold], Reporter] | None = None,
    log: Callable[[str], None] = print,
    features: PairFeatures | None = None,
) -> dict[str, Any]:
    """Train every selected fold into ``out`` and return the metrics written to ``out/metrics.json``.
    ``features`` (shared between the variants of --ablate) caches what the baselines and the
    standardisation statistics need."""
    identity = spec.identity(data_identity)
    features = features or PairFeatures(pairs)
    _, motion_config = resolve_configs(spec, len(class_names))
    check_run_folder(out, identity, resume or spec.folds is not None)  # shards of one run share OUT
    all_folds = make_folds(pairs.subjects, spec.protocol, spec.test_fraction, spec.val_subjects, spec.options.seed)
    folds = select_folds(all_folds, spec.folds)
    dist.barrier()  # every rank has checked OUT before rank 0 writes into it
    if dist.is_main:
        (out / "folds").mkdir(parents=True, exist_ok=True)
        _write_json(
            out / "run.json", {"mpt_edge_version": __version__, "identity": identity, "class_names": class_names}
        )
    dist.barrier()
    subjects = np.array(pairs.subjects)
    for fold in folds:
        folder = out / "folds" / fold.name
        if resume and (folder / "result.json").is_file():
            log(f"fold {fold.name}: already finished, skipped")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        test_mask = np.isin(subjects, fold.test_subjects)
        val_mask = np.isin(subjects, fold.val_subjects)
        train_idx = np.flatnonzero(~test_mask & ~val_mask)
        model = build_model(spec, len(class_names), pairs.onsets.shape[1], log)
        if fold.index == folds[0].index:
            counts = model.parameter_counts()
            log(
                f"{model.cfg.name}: {counts['total']:,} parameters, {counts['trainable']:,} "
                f"trainable ({100 * counts['trainable'] / counts['total']:.1f} %)"
            )
        log(
            f"fold {fold.name}: {len(train_idx)} training clips, {int(test_mask.sum())} held "
            f"out ({', '.join(fold.test_subjects) or 'none'})"
        )
        eval_idx = np.flatnonzero(test_mask)
        # inputs first: their prompts become features.motion's, instead of a second tokenization pass
        cached_inputs = features.inputs(motion_config) if not spec.options.augment else None
        data = FoldData(
            pairs,
            train_idx,
            eval_idx,
            np.flatnonzero(val_mask),
            train_motion=features.motion(motion_config)[train_idx] if spec.motion_prompts else None,
            cached_inputs=cached_inputs,
        )
        place = FoldPlace(folder, fold.index, class_names, device, dist, identity={**identity, "fold": fold.name})
        trainer = FoldTrainer(model, data, spec.options, place, reporter_for(fold) if reporter_for else None)
        started = time.perf_counter()
        result = trainer.fit(resume=resume)
        seconds = round(time.perf_counter() - started, 1)
        if dist.is_main:
            baselines: dict[str, Any] = {}
            if spec.baselines and len(eval_idx):
                started = time.perf_counter()
                baselines = features.baselines(motion_config, train_idx, eval_idx, len(class_names), spec.options.seed)
                log(f"fold {fold.name}: baselines fitted in {time.perf_counter() - started:.1f} s")
            _write_json(
                folder / "result.json",
                {
                    "fold": fold.name,
                    "test_subjects": list(fold.test_subjects),
                    "val_subjects": list(fold.val_subjects),
                    "selection": result.selection,
                    "best_epoch": result.best_epoch,
                    "seconds": seconds,
                    "history": result.history,
                    "start": result.start,
                    "keys": result.eval_keys,
                    "y_true": result.y_true,
                    "y_pred": result.y_pred,
                    "scores": result.scores,
                    "baselines": baselines,
                },
            )
        dist.barrier()
    if not dist.is_main:
        return {}
    metrics = pool_results(
        out, class_names, len(all_folds), spec, provenance(spec, data_identity, class_names, all_folds)
    )
    if spec.protocol in ("holdout", "all") and (out / "folds" / all_folds[0].name / "best.pt").is_file():
        shutil.copyfile(out / "folds" / all_folds[0].name / "best.pt", out / ".best.pt.tmp")
        (out / ".best.pt.tmp").replace(out / "best.pt")
    return metrics


def provenance(
    spec: RunSpec, data_identity: dict[str, Any], class_names: list[str], folds: list[Fold]
) -> dict[str, Any]:
    """Everything that produced a run, resolved (no ``None`` standing for "the default"): data and
    preset, model and motion configs (alpha included), options, seed and the exact split."""
    import cv2

    cfg, motion = resolve_configs(spec, len(class_names))
    return {
        "mpt_edge_version": __version__,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "data": data_identity,
        "model_config": cfg.to_dict(),
        "motion_config": motion.to_dict(),
        "options": spec.options.to_dict(),
        "seed": spec.options.seed,
        "protocol": spec.protocol,
        "test_fraction": spec.test_fraction,
        "val_subjects": spec.val_subjects,
        "backbone_weights": spec.backbone_weights,
        "baselines": spec.baselines,
        "split": {f.name: {"test": list(f.test_subjects), "val": list(f.val_subjects)} for f in folds},
    }


def pool_results(
    out: Path, class_names: list[str], expected_folds: int, spec: RunSpec, provenance_record: dict[str, Any]
) -> dict[str, Any]:
    """Pool every finished fold in ``out`` into metrics.json, predictions.csv and the plots; the
    baselines are pooled the same way, over the same folds."""
    results = []
    for path in sorted((out / "folds").glob("*/result.json")):
        results.append(json.loads(path.read_text()))
    evaluated = [r for r in results if r["y_true"]]
    num_classes = len(class_names)
    metrics: dict[str, Any] = {
        "mpt_edge_version": __version__,
        "protocol": spec.protocol,
        "class_names": class_names,
        "folds_finished": len(results),
        "folds_total": expected_folds,
        "complete": len(results) == expected_folds,
        "selection": results[0]["selection"] if results else None,
        "model": spec.model,
        "alpha": provenance_record["motion_config"]["alpha"],
        "motion_prompts": spec.motion_prompts,
        "train_seconds": round(sum(r["seconds"] for r in results), 1),
        "provenance": provenance_record,
    }
    references: dict[str, float] = {}
    if evaluated:
        pooled = pooled_loso(((r["fold"], r["y_true"], r["y_pred"]) for r in evaluated), num_classes)
        metrics.update(pooled.as_dict())
        baselines: dict[str, Any] = {}
        bars = {"model": pooled.pooled.as_dict()}
        for name in BASELINES:
            if all(name in r.get("baselines", {}) for r in evaluated):
                folds = ((r["fold"], r["y_true"], r["baselines"][name]["y_pred"]) for r in evaluated)
                base = pooled_loso(folds, num_classes)
                baselines[name] = {"label": LABELS[name], **base.as_dict()}
                references[name] = base.pooled.uf1
                bars[name] = base.pooled.as_dict()
        metrics["baselines"] = baselines
        title = (
            f"{spec.protocol}: UF1 {pooled.pooled.uf1:.3f}, UAR "
            f"{pooled.pooled.uar:.3f} ({len(evaluated)} "
            f"fold{'s' if len(evaluated) > 1 else ''})"
        )
        plot_confusion(pooled.pooled.confusion, class_names, out / "confusion.png", title)
        if baselines:
            plot_comparison(
                bars, {k: LABELS[k] for k in bars}, out / "baselines.png", f"held-out subjects ({spec.protocol})"
            )
        write_predictions(out / "predictions.csv", evaluated, class_names)
    starts = {r["fold"]: r["start"]["eval_uf1"] for r in results if r.get("start")}
    plot_curves({r["fold"]: r["history"] for r in results}, out / "curves.png", references, starts)
    _write_json(out / "metrics.json", metrics)
    return metrics


def write_predictions(path: Path, results: list[dict[str, Any]], class_names: list[str]) -> None:
    """One row per held-out clip: fold, clip, subject, source data set, true and predicted label, the
    model's class scores and each baseline's prediction, so UF1/UAR can be recomputed elsewhere."""
    import csv
    import io

    names = [n for n in BASELINES if all(n in r.get("baselines", {}) for r in results)]
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(
        [
            "fold",
            "clip",
            "subject",
            "dataset",
            "true",
            "predicted",
            *(f"score_{c}" for c in class_names),
            *(f"{n}_predicted" for n in names),
        ]
    )
    for r in results:
        for row, key in enumerate(r["keys"]):
            dataset, subject, clip = key.split("/", 2)
            cells = [
                r["fold"],
                clip,
                subject,
                dataset,
                class_names[r["y_true"][row]],
                class_names[r["y_pred"][row]],
                *(f"{v:.6f}" for v in r["scores"][row]),
                *(class_names[r["baselines"][n]["y_pred"][row]] for n in names),
            ]
            writer.writerow([spreadsheet_safe(cell) for cell in cells])
    atomic_write_bytes(path, table.getvalue().encode())
