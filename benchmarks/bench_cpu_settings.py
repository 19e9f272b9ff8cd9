"""Runtime settings on a small CPU, before FP32 and INT8 are compared: what each one gives, as JSON.

    python benchmarks/bench_cpu_settings.py --model mpt-tiny [--checkpoint best.pt] --out settings.json

Measured (batch-1 synchronous p50, all configurations interleaved round by round):

* OpenVINO FP32 and INT8 IR: ``PERFORMANCE_HINT`` LATENCY / THROUGHPUT / none, inference threads =
  physical cores or 1, CPU pinning on/off;
* ONNX Runtime FP32 and Q/DQ: intra-op threads (physical cores / 1 / ORT's default) and graph
  optimisation level (basic / extended / all);
* OpenVINO's runtime (executed) graph of each precision: which layers run in which precision, the
  Reorder (layout conversion) nodes it inserted, and the share of time per layer type
  (``PERF_COUNT``);
* sequence length: the same random-init model with no motion tokens (197), and 6x6 / 7x7 / 8x8 token
  grids (233 / 246 / 261 tokens), FP32 and INT8, to see whether the 246-token sequence pays a
  padding or layout penalty beyond its length.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_int8 import build_routes, machine, model_checkpoint, percentile, timed_calls  # noqa: E402


def physical_cores() -> int:
    """Cores, not hardware threads: ONNX Runtime and OpenVINO both do best with one thread per core."""
    try:
        import openvino as ov

        return max(1, int(ov.Core().get_property("CPU", "INFERENCE_NUM_THREADS")) or os.cpu_count() or 1)
    except Exception:
        return os.cpu_count() or 1


def openvino_request(path: Path, config: dict[str, Any]) -> Callable[[dict[str, np.ndarray]], object]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    return lambda feeds: request.infer(feeds)


def onnxruntime_session(path: Path, threads: int | None, level: str) -> Callable[[dict[str, np.ndarray]], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)


def interleaved_p50(calls: dict[str, Callable[[], object]], rounds: int, seconds: float) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name].extend(timed_calls(call, seconds))
    return {
        name: {"p50_ms": round(percentile(v, 50), 3), "p99_ms": round(percentile(v, 99), 3)}
        for name, v in samples.items()
    }


def runtime_graph(path: Path, feeds: dict[str, np.ndarray], precision: str | None, runs: int = 20) -> dict[str, Any]:
    """What OpenVINO actually executes: layer precisions, Reorders, time share per layer type."""
    import openvino as ov

    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "PERF_COUNT": True,
        **({"INFERENCE_PRECISION_HINT": precision} if precision else {}),
    }
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    for _ in range(3):
        request.infer(feeds)
    totals: dict[str, float] = defaultdict(float)
    by_precision: dict[str, float] = defaultdict(float)
    for _ in range(runs):
        request.infer(feeds)
        for info in request.profiling_info:
            micro = info.real_time.total_seconds() * 1e6
            totals[info.node_type] += micro
            precision_of = info.exec_type.rsplit("_", 1)[-1] if "_" in info.exec_type else info.exec_type
            by_precision[precision_of] += micro
    total = sum(totals.values()) or 1.0
    layers = Counter()
    reorders = 0
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        kind = rt["layerType"].astype(str)
        precision_of = rt["runtimePrecision"].astype(str)
        reorders += kind == "Reorder"
        if kind not in ("Const", "Input", "Output", "Reshape"):
            layers[f"{kind}:{precision_of}"] += 1
    return {
        "layers_by_type_and_precision": dict(sorted(layers.items())),
        "reorders": reorders,
        "time_share_by_layer_type": {
            k: round(v / total, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:8]
        },
        "time_share_by_kernel_precision": {
            k: round(v / total, 3) for k, v in sorted(by_precision.items(), key=lambda kv: -kv[1])[:5]
        },
        "mean_ms_per_inference": round(total / runs / 1000, 3),
    }


def sequence_lengths(
    model: str,
    classes: list[str],
    feeds_for: Callable[[Any], list[dict[str, np.ndarray]]],
    rounds: int,
    seconds: float,
    scratch: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Random-init models that differ only in their number of motion tokens."""
    import torch

    from mpt_edge.motion.config import MotionConfig
    from train.checkpoint import save_checkpoint
    from train.configs import get_config
    from train.export import export_onnx
    from train.model import MPT

    calls: dict[str, Callable[[], object]] = {}
    tokens: dict[str, int] = {}
    for grid in (0, 6, 7, 8):
        torch.manual_seed(0)
        cfg = get_config(model, num_classes=len(classes), use_motion_prompts=grid > 0)
        motion = MotionConfig(
            face_size=cfg.image_size,
            patch_size=cfg.patch_size,
            image_mean=cfg.image_mean,
            image_std=cfg.image_std,
            token_grid=max(grid, 1),
        )
        net = MPT(cfg, motion).eval()
        folder = scratch / f"grid{grid}"
        folder.mkdir()
        onnx_path = folder / "model.onnx"
        export_onnx(save_checkpoint(folder / "model.pt", net, classes), onnx_path)
        feeds = feeds_for(net)
        routes = build_routes(["openvino_fp32", "openvino_int8"], onnx_path, folder, feeds[:16], feeds[0], log)
        length = 1 + cfg.num_patches + (grid * grid)
        for route in routes:
            calls[f"{length}_tokens_{route.name}"] = lambda engine=route.engine, feed=feeds[0]: engine.infer(feed)
        tokens[str(length)] = grid * grid
    timings = interleaved_p50(calls, rounds, seconds)
    return {"motion_tokens_by_length": tokens, "p50_ms": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mpt-tiny")
    parser.add_argument(
        "--checkpoint", type=Path, help="trained weights (default: random init; speed does not depend on them)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--skip-sequence", action="store_true", help="skip the sequence-length study (4 extra exports)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from train.export import feeds as model_feeds
    from train.export import sample_inputs

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    classes = ["negative", "positive", "surprise"]
    cores = physical_cores()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)

        def feeds_for(net: Any) -> list[dict[str, np.ndarray]]:
            images, motion = sample_inputs(net, count=16)
            return [model_feeds(net, images[i : i + 1], motion[i : i + 1]) for i in range(len(images))]

        from train.checkpoint import load_model
        from train.export import export_onnx

        checkpoint = model_checkpoint(args.model, args.checkpoint, scratch, classes)
        onnx_path = scratch / "model.onnx"
        export_onnx(checkpoint, onnx_path)
        net, _ = load_model(checkpoint)
        calibration = feeds_for(net)
        feed = calibration[0]
        routes = {
            r.name: r.path
            for r in build_routes(["openvino_int8", "onnxruntime_qdq"], onnx_path, scratch, calibration, feed, log)
        }
        calls: dict[str, Callable[[], object]] = {}
        for precision, path, hint_precision in (("fp32", onnx_path, "f32"), ("int8", routes["openvino_int8"], None)):
            base = {"INFERENCE_PRECISION_HINT": hint_precision} if hint_precision else {}
            variants = {
                "hint_none": {},
                "hint_latency": {"PERFORMANCE_HINT": "LATENCY"},
                "hint_throughput": {"PERFORMANCE_HINT": "THROUGHPUT"},
                f"latency_threads_{cores}": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": cores},
                "latency_threads_1": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1},
                "latency_pinning_on": {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": True},
                "latency_pinning_off": {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False},
            }
            for name, config in variants.items():
                request = openvino_request(path, {**base, **config})
                calls[f"openvino_{precision}_{name}"] = lambda request=request: request(feed)
        for precision, path in (("fp32", onnx_path), ("qdq", routes["onnxruntime_qdq"])):
            for threads, level in ((None, "all"), (cores, "all"), (1, "all"), (cores, "extended"), (cores, "basic")):
                session = onnxruntime_session(path, threads, level)
                calls[f"onnxruntime_{precision}_threads_{threads or 'default'}_{level}"] = lambda session=session: (
                    session(feed)
                )
        log(f"timing {len(calls)} configurations, {args.rounds} rounds of {args.seconds:g} s")
        timings = interleaved_p50(calls, args.rounds, args.seconds)
        graphs = {
            "fp32": runtime_graph(onnx_path, feed, "f32"),
            "int8": runtime_graph(routes["openvino_int8"], feed, None),
        }
        sequence = (
            None
            if args.skip_sequence
            else sequence_lengths(args.model, classes, feeds_for, args.rounds, args.seconds, scratch, log)
        )
    report = {
        "benchmark": "cpu_runtime_settings",
        "model": args.model,
        "machine": machine(),
        "physical_cores": cores,
        "rounds": args.rounds,
        "seconds_per_measurement": args.seconds,
        "p50_ms": timings,
        "openvino_runtime_graph": graphs,
        "sequence_length": sequence,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        from mpt_edge.io import atomic_write_bytes

        atomic_write_bytes(args.out, (text + "\n").encode())
    print(text)


if __name__ == "__main__":
    main()
