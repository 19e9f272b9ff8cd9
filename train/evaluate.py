"""``mpt-edge eval``: score a checkpoint, or every fold of a training run, on a data set, with
UF1/UAR/accuracy per source data set and for the composite — the layout of the MEGC2019 tables.

* a run folder (``mpt-edge train --out``): each fold's ``best.pt`` predicts the subjects that fold
  held out, and the predictions are pooled (LOSO as the papers compute it);
* a single ``.pt``: it predicts every clip of the data set;
* a bundle folder (``mpt-edge build``): its engine (INT8 or not) predicts every clip — what the device
  would say.

Baselines (:mod:`train.baselines`) need a training split, so they are shown for run folders only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpt_edge.classify import softmax
from mpt_edge.errors import MptEdgeError
from mpt_edge.preprocess import readings
from train.baselines import BASELINES, LABELS, PairFeatures
from train.checkpoint import load_model
from train.data.pairs import encode_pairs, load_pairs
from train.data.sources import DataSource
from train.fit import predict
from train.metrics import summarize


def _jobs(model_path: Path) -> list[tuple[str, Path, list[str] | None]]:
    """(name, checkpoint or bundle, subjects it may be scored on or None for all)."""
    return [(name, path, held) for name, path, held, _ in _fold_jobs(model_path)]


def first_model(model_path: Path) -> Path:
    """The first checkpoint or bundle :func:`evaluate` will run (what its face size is read from)."""
    return _jobs(model_path)[0][1]


def _fold_jobs(model_path: Path) -> list[tuple[str, Path, list[str] | None, list[str]]]:
    """:func:`_jobs` plus each fold's validation subjects (left out of its training, like the model)."""
    if model_path.is_dir() and (model_path / "manifest.json").is_file():
        return [("bundle", model_path, None, [])]
    if model_path.is_dir():
        results = sorted((model_path / "folds").glob("*/result.json"))
        if not (model_path / "run.json").is_file() or not results:
            raise MptEdgeError(
                f"{model_path} is not a finished training run (no run.json / folds/*/result.json) "
                "nor a bundle; pass a run folder, a .pt checkpoint or a bundle"
            )
        jobs: list[tuple[str, Path, list[str] | None, list[str]]] = []
        for path in results:
            result = json.loads(path.read_text())
            if not result["test_subjects"]:
                raise MptEdgeError(
                    f"fold {result['fold']} of {model_path} held out no subjects (protocol all); "
                    "evaluate its best.pt on another data set instead"
                )
            jobs.append(
                (
                    result["fold"],
                    path.parent / "best.pt",
                    list(result["test_subjects"]),
                    list(result.get("val_subjects", [])),
                )
            )
        return jobs
    return [("model", model_path, None, [])]


def _scorer(
    path: Path, precision: str = "auto", server: str | None = None
) -> tuple[list[str], Any, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """(class names, motion config, class probabilities of a batch) for a checkpoint (PyTorch) or a bundle
    (its engine)."""
    if path.is_dir():
        from mpt_edge.engines import open_bundle

        opened = open_bundle(path, precision, server)
        bundle, engine = opened.files, opened.engine
        names = list(bundle.inputs)
        step = bundle.manifest.max_batch_size  # a server takes batches

        def score_bundle(images: np.ndarray, motion: np.ndarray) -> np.ndarray:
            feeds = [
                {"apex": images[i : i + step], "motion": motion[i : i + step]} for i in range(0, len(images), step)
            ]
            return softmax(np.concatenate([engine.infer({k: v for k, v in f.items() if k in names}) for f in feeds]))

        return bundle.class_names, bundle.motion_config, score_bundle
    model, payload = load_model(path)

    def score_model(images: np.ndarray, motion: np.ndarray) -> np.ndarray:
        return predict(model, torch.from_numpy(images), torch.from_numpy(motion), model.cfg.use_motion_prompts).numpy()

    return list(payload["class_names"]), model.motion_config, score_model


def evaluate(
    model_path: Path,
    source: DataSource,
    batch_size: int = 16,
    tick: Callable[[], None] | None = None,
    baselines: bool = True,
    precision: str = "auto",
    server: str | None = None,
) -> dict[str, Any]:
    """Score the model(s) of ``model_path`` on ``source``. For a run folder (folds with held-out
    subjects) the baselines are refitted on each fold's training subjects and pooled the same way."""
    jobs = _fold_jobs(Path(model_path))
    with_baselines = baselines and all(held is not None for _, _, held, _ in jobs)
    baseline_pred: dict[str, list[int]] = {name: [] for name in BASELINES}
    subjects = np.array([r.subject for r in source.records])
    datasets = np.array([r.dataset for r in source.records])
    y_true, y_pred, origin = [], [], []
    pairs_cache: dict[int, Any] = {}
    features_cache: dict[int, PairFeatures] = {}
    for name, path, held_out, val_subjects in jobs:
        class_names, motion_config, score = _scorer(path, precision, server)
        if list(class_names) != list(source.class_names):
            raise MptEdgeError(
                f"{path} predicts {list(class_names)} but {source.name} has classes "
                f"{source.class_names}; evaluate on the data set it was trained for"
            )
        indices = np.flatnonzero(np.isin(subjects, held_out)) if held_out is not None else np.arange(len(subjects))
        if not len(indices):
            raise MptEdgeError(
                f"fold {name}: none of its held-out subjects {held_out} are in {source.root}; "
                "evaluate on the data the run was trained with"
            )
        face = motion_config.face_size
        if face not in pairs_cache:
            pairs_cache[face] = load_pairs(source.records, face)
        pairs = pairs_cache[face]
        if with_baselines:
            features = features_cache.setdefault(face, PairFeatures(pairs))
            train_idx = np.flatnonzero(~np.isin(subjects, list(held_out or []) + list(val_subjects)))
            for baseline, result in features.baselines(
                motion_config, train_idx, indices, len(source.class_names), 0
            ).items():
                baseline_pred[baseline] += result["y_pred"]
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            probabilities = sum(
                score(*encode_pairs(pairs, chunk, motion_config, mirror=mirror)) for mirror in readings(motion_config)
            )
            y_true += pairs.labels[chunk].tolist()
            y_pred += np.asarray(probabilities).argmax(1).tolist()
            origin += datasets[chunk].tolist()
            if tick:
                for _ in chunk:
                    tick()
    num_classes = len(source.class_names)
    per_source = {
        name: summarize(
            np.array(y_true)[np.array(origin) == name], np.array(y_pred)[np.array(origin) == name], num_classes
        ).as_dict()
        for name in sorted(set(origin))
    }
    return {
        "model": str(model_path),
        "dataset": source.name,
        "class_names": source.class_names,
        "folds": len(jobs),
        "composite": summarize(y_true, y_pred, num_classes).as_dict(),
        "per_source": per_source,
        "baselines": {
            name: {"label": LABELS[name], **summarize(y_true, pred, num_classes).as_dict()}
            for name, pred in baseline_pred.items()
        }
        if with_baselines
        else {},
    }


def total_predictions(model_path: Path, source: DataSource) -> int:
    """How many clips :func:`evaluate` will score (for the progress bar)."""
    subjects = [r.subject for r in source.records]
    return sum(
        len(subjects) if held is None else sum(s in held for s in subjects) for _, _, held in _jobs(Path(model_path))
    )
