"""``mpt-edge calibrate``: exported FP32 ONNX + training data -> INT8 model + accuracy report.

Calibration clips come from the subjects the model trained on (stratified by class and subject);
the report scores FP32 and INT8 on the subjects it never saw (recorded in the model's metadata by
``mpt-edge train``/``export``; for models trained on everything, the default holdout split).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calibrate.backbone_fidelity import backbone_fidelity
from calibrate.backends import QUANTIZERS, QuantizeJob, output_path, quantize_qdq
from calibrate.report import accuracy_report, qdq_sensitivity
from calibrate.sampling import stratified_indices
from mpt_edge.backends import parse_backend
from mpt_edge.bundle import sha256_file
from mpt_edge.errors import InputError
from mpt_edge.io import atomic_write_bytes
from mpt_edge.motion.config import MotionConfig
from mpt_edge.onnx_meta import read_onnx_meta
from train.data.pairs import PairSet, encode_pairs
from train.metrics import summarize
from train.protocol import make_folds

SENSITIVITY_CLIPS = 16


def _feeds(pairs: PairSet, indices: np.ndarray, config: MotionConfig, names: list[str]) -> list[dict[str, np.ndarray]]:
    """Batch-1 feeds (what the static-batch models take) for ``indices``, encoded in one pass."""
    images, motion = encode_pairs(pairs, [int(i) for i in indices], config)
    return [
        {"apex": images[k : k + 1], "motion": motion[k : k + 1]} if "motion" in names else {"apex": images[k : k + 1]}
        for k in range(len(images))
    ]


def split_subjects(meta: dict[str, Any], subjects: list[str]) -> tuple[list[str], str]:
    held_out = [s for s in meta.get("held_out_subjects", []) if s in set(subjects)]
    if held_out:
        return held_out, "held-out subjects of the training run"
    fold = make_folds(subjects, "holdout", 0.25, 0, 0)[0]
    return list(fold.test_subjects), "default holdout split (the model's metadata names no held-out subjects)"


def calibrate_model(
    model: Path,
    backend: str,
    out_dir: Path,
    pairs: PairSet,
    size: int,
    seed: int = 0,
    max_drop: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    backend = parse_backend(backend, calibrating=True)
    meta = read_onnx_meta(model)
    motion = MotionConfig.from_dict(meta["motion_config"])
    if pairs.onsets.shape[1] != motion.face_size:
        raise InputError(
            f"the calibration data has {pairs.onsets.shape[1]}px faces but {model} expects "
            f"{motion.face_size}px; prepare the data at {motion.face_size}px"
        )
    if len(pairs) == 0:
        raise InputError("the calibration data is empty; check --dataset/--root")
    held_out, split = split_subjects(meta, pairs.subjects)
    subjects = np.array(pairs.subjects)
    train_idx = np.flatnonzero(~np.isin(subjects, held_out))
    eval_idx = np.flatnonzero(np.isin(subjects, held_out))
    chosen = train_idx[stratified_indices(pairs.labels[train_idx], [pairs.subjects[i] for i in train_idx], size, seed)]
    names = list(meta["inputs"])
    log(
        f"calibration: {len(chosen)} clips from {len(set(subjects[chosen]))} training "
        f"subjects; report on {len(eval_idx)} clips ({split})"
    )
    calibration_feeds = _feeds(pairs, chosen, motion, names)
    eval_feeds = _feeds(pairs, eval_idx, motion, names)
    labels = pairs.labels[eval_idx]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = output_path(out_dir, backend)
    quantizer = QUANTIZERS[backend]
    if max_drop is not None and not quantizer.accuracy_control:
        choices = ", ".join(b.value for b, q in QUANTIZERS.items() if q.accuracy_control)
        raise InputError(
            f"--max-drop is implemented for --backend {choices} (nncf accuracy control); "
            "Q/DQ models keep MatMul/Conv only"
        )
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        validation = (
            (eval_feeds, labels, lambda y, p: summarize(y, p, len(meta["class_names"])).uf1)
            if max_drop is not None
            else None
        )
        int8_only = quantizer.quantize(
            QuantizeJob(model, target, calibration_feeds, Path(tmp), max_drop, validation, log)
        )
        log(f"wrote {target}")
        report = accuracy_report(
            model,
            target,
            backend,
            eval_feeds,
            labels,
            meta["class_names"],
            calibration_feeds[:SENSITIVITY_CLIPS],
            int8_only,
        )
        grid = int(meta["model_config"]["image_size"]) // int(meta["model_config"]["patch_size"])
        report["backbone"] = backbone_fidelity(
            model, target, eval_feeds, grid * grid, optimize=not backend.spec.checked_as_written
        )
    # the per-layer view of a model that is no ONNX graph: an ONNX Runtime Q/DQ simulation of the same calibration
    if quantizer.simulated_sensitivity:
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            simulated = quantize_qdq(model, Path(tmp) / "sim.onnx", calibration_feeds, tensorrt=False)
            report["most_sensitive_tensors"] = qdq_sensitivity(model, simulated, calibration_feeds[:SENSITIVITY_CLIPS])
            report["sensitivity_source"] = "onnxruntime Q/DQ simulation (SQNR, dB)"
    else:
        report["sensitivity_source"] = "onnxruntime qdq_loss_debug (SQNR, dB)"
    report.update(
        {
            "model": str(model),
            "model_sha256": sha256_file(model),
            "int8_model": str(target),
            "calibration_clips": int(len(chosen)),
            "calibration_size_requested": size,
            "calibration_seed": seed,
            "evaluation_split": split,
            "held_out_subjects": held_out,
            "class_names": meta["class_names"],
            "max_drop": max_drop,
            "precision": quantizer.precision,
        }
    )
    atomic_write_bytes(out_dir / f"report_{backend}.json", (json.dumps(report, indent=2) + "\n").encode())
    return report
