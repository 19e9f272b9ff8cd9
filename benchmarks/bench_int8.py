"""INT8 vs FP32 throughput and latency on this CPU, printed as JSON.

    python benchmarks/bench_int8.py --checkpoint runs/train/best.pt --onnx model.onnx \\
        --openvino-int8 int8/model_int8.xml --qdq int8/model_int8_qdq_onnxruntime.onnx

Throughput: OpenVINO THROUGHPUT hint with its optimal number of asynchronous requests, batch 1
(what a camera pipeline feeds). Latency: one synchronous request. Methods are measured round-robin
(`--rounds` rounds of `--seconds` each) and medians reported, because this shared VM's speed drifts
between runs. The CPU's INT8 instruction support is reported with the figures: without VNNI
(AVX512-VNNI / AVX-VNNI) INT8 matrix products have no fast path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np


def openvino_throughput(path: Path, feeds: dict[str, np.ndarray], seconds: float, inference_precision: str | None = None) -> float:
    """``inference_precision="f32"`` for a true FP32 figure: on BF16/AMX CPUs OpenVINO runs FP32
    models in bf16 unless told otherwise (measured: 1.7x the f32 throughput of mpt-tiny on Zen 5)."""
    import openvino as ov

    config = {"PERFORMANCE_HINT": "THROUGHPUT", **({"INFERENCE_PRECISION_HINT": inference_precision} if inference_precision else {})}
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    requests = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, requests)
    for _ in range(2 * requests):
        queue.start_async(feeds)
    queue.wait_all()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        queue.start_async(feeds)
        done += 1
    queue.wait_all()
    return done / (time.perf_counter() - start)


def weight_only_routes(onnx_path: Path, scratch: Path) -> dict[str, object]:
    """Routes that need no calibration set: FP32 activations with INT8-compressed weights
    (``nncf.compress_weights``, OpenVINO) and ONNX Runtime's dynamic INT8 (MatMulInteger, activations
    quantized per call)."""
    import nncf
    import openvino as ov
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from mpt_edge.commands.common import json_only_stdout
    from mpt_edge.engines.onnxruntime import OnnxRuntimeEngine
    from mpt_edge.engines.openvino import OpenVinoEngine

    compressed = scratch / "int8_weights.xml"
    with json_only_stdout(True):  # nncf prints its tables to stdout, which carries the JSON
        weights = nncf.compress_weights(ov.Core().read_model(str(onnx_path)), mode=nncf.CompressWeightsMode.INT8_ASYM)
    ov.save_model(weights, str(compressed), compress_to_fp16=False)
    dynamic = scratch / "dynamic_int8.onnx"
    quantize_dynamic(str(onnx_path), str(dynamic), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    return {"openvino_fp32_int8_weights": OpenVinoEngine(compressed, inference_precision="f32"), "onnxruntime_dynamic_int8": OnnxRuntimeEngine(dynamic)}


def sync_rate(call: Callable[[], object], seconds: float) -> float:
    for _ in range(3):
        call()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onnx", type=Path, required=True, help="FP32 ONNX from mpt-edge export")
    parser.add_argument("--openvino-int8", type=Path, required=True, help="INT8 IR from mpt-edge calibrate --backend openvino")
    parser.add_argument("--qdq", type=Path, help="Q/DQ ONNX from mpt-edge calibrate --backend onnxruntime")
    parser.add_argument("--checkpoint", type=Path, help="the .pt checkpoint, for PyTorch eager FP32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()

    from mpt_edge.engines.onnxruntime import OnnxRuntimeEngine
    from mpt_edge.engines.openvino import OpenVinoEngine
    from mpt_edge.onnx_meta import read_onnx_meta
    from mpt_edge.precision import cpu_model_and_flags

    meta = read_onnx_meta(args.onnx)
    size = meta["motion_config"]["face_size"]
    grid = meta["motion_config"]["token_grid"]
    rng = np.random.default_rng(0)
    feeds = {"apex": rng.standard_normal((1, 3, size, size), dtype=np.float32), "motion": rng.standard_normal((1, grid * grid, 6), dtype=np.float32)}
    feeds = {k: v for k, v in feeds.items() if k in meta["inputs"]}

    methods: dict[str, Callable[[], float]] = {
        "openvino_fp32_throughput": lambda: openvino_throughput(args.onnx, feeds, args.seconds, "f32"),
        "openvino_int8_throughput": lambda: openvino_throughput(args.openvino_int8, feeds, args.seconds),
    }
    cpu, flags = cpu_model_and_flags()
    if {"avx512_bf16", "amx_bf16"} & set(flags):  # what OpenVINO does with an FP32 model here by default
        methods["openvino_fp32_model_in_bf16_throughput"] = lambda: openvino_throughput(args.onnx, feeds, args.seconds, "bf16")
    latency_engines = {"openvino_fp32": OpenVinoEngine(args.onnx, inference_precision="f32"), "openvino_int8": OpenVinoEngine(args.openvino_int8), "onnxruntime_fp32": OnnxRuntimeEngine(args.onnx)}
    if args.qdq:
        latency_engines["onnxruntime_qdq_int8"] = OnnxRuntimeEngine(args.qdq)
    scratch = tempfile.TemporaryDirectory()
    latency_engines.update(weight_only_routes(args.onnx, Path(scratch.name)))
    for name, engine in latency_engines.items():
        methods[f"{name}_sync"] = lambda engine=engine: sync_rate(lambda: engine.infer(feeds), args.seconds)
    if args.checkpoint:
        import torch

        from train.checkpoint import load_model

        model, _ = load_model(args.checkpoint)
        tensors = [torch.from_numpy(feeds[name]) for name in meta["inputs"]]

        def eager() -> float:
            with torch.inference_mode():
                return sync_rate(lambda: model(*tensors), args.seconds)

        methods["pytorch_eager_fp32_sync"] = eager

    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name, run in methods.items():
            samples[name].append(run())
    rates = {name: round(statistics.median(values), 2) for name, values in samples.items()}
    result = {
        "benchmark": "int8_vs_fp32", "unit": "inferences/s (batch 1)", "model": meta["model_config"]["name"],
        "machine": {"cpu": cpu, "int8_flags": flags, "cores": __import__("os").cpu_count()},
        "rounds": args.rounds, "seconds_per_measurement": args.seconds, "median_rate": rates, "all_rates": samples,
        "ratios": {
            "openvino_int8_vs_fp32_throughput": round(rates["openvino_int8_throughput"] / rates["openvino_fp32_throughput"], 3),
            "openvino_int8_vs_fp32_sync": round(rates["openvino_int8_sync"] / rates["openvino_fp32_sync"], 3),
            **({"openvino_int8_vs_pytorch_eager": round(rates["openvino_int8_sync"] / rates["pytorch_eager_fp32_sync"], 3)} if args.checkpoint else {}),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
