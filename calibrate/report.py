"""FP32 vs INT8 on held-out clips: UF1/UAR/accuracy of both, prediction agreement, the layers most
hurt by quantization, file sizes and latency on this CPU. Proven, not assumed."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.backends import Backend
from mpt_edge.engines import Engine, open_engine
from train.metrics import summarize


def predict_all(engine: Engine, feeds: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    return np.concatenate([engine.infer(item) for item in feeds])


def latency_ms(engine: Engine, feed: dict[str, np.ndarray], runs: int = 30, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        engine.infer(feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.infer(feed)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": round(statistics.median(times), 3), "p90": round(times[int(0.9 * (len(times) - 1))], 3)}


def model_bytes(path: Path) -> int:
    return os.path.getsize(path) + (os.path.getsize(path.with_suffix(".bin")) if path.suffix == ".xml" else 0)


def qdq_sensitivity(
    float_model: Path, qdq_model: Path, feeds: Sequence[dict[str, np.ndarray]], worst: int = 5
) -> list[dict[str, Any]]:
    """Per-tensor SQNR (dB) of the Q/DQ model against FP32 (onnxruntime's qdq_loss_debug); lowest first.
    One clip at a time, signal and noise summed per tensor: every intermediate tensor of mpt-base for
    32 clips in both models held at once is ~23 GB (it was OOM-killed on a 24 GB machine)."""
    import tempfile

    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    signal: dict[str, float] = {}
    noise: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        augmented_q, augmented_f, prepared = Path(tmp) / "q.onnx", Path(tmp) / "f.onnx", Path(tmp) / "p.onnx"
        # The Q/DQ model was quantized from the pre-processed (fused, renamed) graph: compare with that.
        quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        modify_model_output_intermediate_tensors(str(qdq_model), str(augmented_q))
        modify_model_output_intermediate_tensors(str(prepared), str(augmented_f))
        for feed in feeds:
            matches = create_activation_matching(
                collect_activations(str(augmented_q), [feed]), collect_activations(str(augmented_f), [feed])
            )
            for name, match in matches.items():
                if "float" not in match:
                    continue
                signal[name] = signal.get(name, 0.0) + sum(
                    float(np.sum(np.square(x, dtype=np.float64))) for x in match["float"]
                )
                noise[name] = noise.get(name, 0.0) + sum(
                    float(np.sum(np.square(x.astype(np.float64) - y, dtype=np.float64)))
                    for x, y in zip(match["float"], match["pre_qdq"])
                )
    rows = [
        {"tensor": name, "sqnr_db": round(10 * np.log10(total / max(noise[name], 1e-30)), 2)}
        for name, total in signal.items()
        if total >= 1e-12  # a tensor that is identically zero in FP32 (e.g. an adapter that never trained) has no SQNR
    ]
    return sorted(rows, key=lambda r: r["sqnr_db"])[:worst]


def accuracy_report(
    float_model: Path,
    int8_model: Path,
    backend: str,
    eval_feeds: Sequence[dict[str, np.ndarray]],
    labels: np.ndarray,
    class_names: Sequence[str],
    sensitivity_feeds: Sequence[dict[str, np.ndarray]],
    qdq_model: Path | None = None,
) -> dict[str, Any]:
    """FP32 vs the quantized model on the held-out clips. ``qdq_model``: the INT8 Q/DQ model with FP32
    elsewhere, for the per-tensor sensitivity (the TensorRT model's FP16 parts would blur it)."""
    fp32 = open_engine(float_model)
    int8 = open_engine(
        int8_model, optimize=not Backend(backend).spec.checked_as_written
    )  # the TensorRT model is checked as written
    fp32_logits, int8_logits = predict_all(fp32, eval_feeds), predict_all(int8, eval_feeds)
    fp32_pred, int8_pred = fp32_logits.argmax(1), int8_logits.argmax(1)
    num_classes = len(class_names)
    report: dict[str, Any] = {
        "backend": backend,
        "held_out_clips": int(len(labels)),
        "fp32": {
            k: v
            for k, v in summarize(labels, fp32_pred, num_classes).as_dict().items()
            if k in ("uf1", "uar", "accuracy", "confusion")
        },
        "int8": {
            k: v
            for k, v in summarize(labels, int8_pred, num_classes).as_dict().items()
            if k in ("uf1", "uar", "accuracy", "confusion")
        },
        "agreement": float(np.mean(fp32_pred == int8_pred)) if len(labels) else None,
        "bytes": {"fp32": model_bytes(float_model), "int8": model_bytes(int8_model)},
    }
    report["uf1_drop"] = round(report["fp32"]["uf1"] - report["int8"]["uf1"], 4)
    report["max_abs_logit_difference"] = float(np.abs(fp32_logits - int8_logits).max()) if len(labels) else None
    feed = eval_feeds[0]
    report["latency_ms_batch1"] = {
        f"fp32 {fp32.backend}": latency_ms(fp32, feed),
        f"int8 {int8.backend}": latency_ms(int8, feed),
    }
    if backend == Backend.OPENVINO:
        report["latency_ms_batch1"]["fp32 openvino"] = latency_ms(open_engine_openvino_fp32(float_model), feed)
    if int8_model.suffix == ".onnx":
        report["most_sensitive_tensors"] = qdq_sensitivity(float_model, qdq_model or int8_model, sensitivity_feeds)
    return report


def open_engine_openvino_fp32(float_model: Path) -> Engine:
    from mpt_edge.engines.openvino import OpenVinoEngine

    return OpenVinoEngine(float_model, inference_precision="f32")
