"""Which INT8 route pays on this CPU: a matrix of quantization routes x model sizes, printed as JSON,
with one PNG chart.

    python benchmarks/bench_int8.py --models mpt-tiny,mpt-small,mpt-base \\
        --checkpoint mpt-tiny=runs/train/best.pt --chart int8.png --out int8.json
    # the pretrained DINOv2 ViT-S/14 (trained with --backbone-weights, see README):
    python benchmarks/bench_int8.py --models mpt-small-dinov2 --checkpoint
    mpt-small-dinov2=runs/pretrained/pretrained-backbone-s0/best.pt

For every model (a trained checkpoint where ``--checkpoint`` names one, otherwise random-init weights:
fine for speed, and accuracy is then judged by agreement with FP32) the benchmark exports the FP32
ONNX, builds each route with the project's own quantizers, and measures:

* batch-1 latency p50/p99 (one synchronous request; every call timed) and throughput (OpenVINO:
  THROUGHPUT hint with its optimal number of asynchronous requests; ONNX Runtime: sequential calls),
  routes interleaved round by round (``--rounds`` x ``--seconds``; this shared VM's speed drifts);
* held-out UF1 on the synthetic set, prediction agreement and max |Δlogit| against OpenVINO FP32;
* model size on disk and build seconds;
* for every quantized route, the backbone itself: cosine and SQNR of the final [CLS] and patch tokens
  against FP32 (``calibrate/backbone_fidelity.py``), since a float prompt read-out can hide a ruined ViT.

The CPU's INT8 instruction support (VNNI/AMX flags, OpenVINO's OPTIMIZATION_CAPABILITIES) is
reported with the figures: without VNNI, INT8 matrix products have no fast path.

``--emulate-no-vnni`` measures OpenVINO as on an AVX-512 CPU without VNNI (and so without BF16,
which came later): oneDNN's kernels are capped with ``ONEDNN_MAX_CPU_ISA=AVX512_CORE`` and every
OpenVINO model is pinned to f32 — capped alone, OpenVINO still reads BF16 from the CPUID and runs the
unquantized layers in bf16 through slow fallback kernels (measured: 12 attention MatMuls, 89 % of an
INT8 mpt-tiny's time). ONNX Runtime's MLAS kernels ignore the cap: its rows stay this CPU's.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibrate.backbone_fidelity import backbone_fidelity, final_tokens, final_tokens_name  # noqa: E402
from calibrate.report import model_bytes  # noqa: E402

REFERENCE = "openvino_fp32"
ROUTES = (
    "openvino_fp32",  # the ONNX file in OpenVINO, pinned to f32
    # what `mpt-edge calibrate --backend openvino` ships: NNCF, transformer type, fast bias correction, no SmoothQuant
    "openvino_int8",
    "openvino_int8_smoothquant",  # the same with SmoothQuant (NNCF's default for transformers)
    "openvino_int8_cnn_preset",  # NNCF without model_type=TRANSFORMER
    "openvino_int8_full_bias_correction",
    "openvino_fp32_int8_weights",  # nncf.compress_weights: INT8 weights, FP32 activations
    "onnxruntime_fp32",
    "onnxruntime_qdq",  # `mpt-edge calibrate --backend onnxruntime`
    "onnxruntime_qoperator",
    "onnxruntime_dynamic",  # MatMulInteger, activations quantized per call
)
FP32_ROUTES = ("openvino_fp32", "onnxruntime_fp32")
# Full bias correction (instead of NNCF's fast one): measured on mpt-tiny/-small, the same UF1 and speed
# for ~1 s more build time; not in the default set, to keep the three-model run short.
DEFAULT_ROUTES = tuple(route for route in ROUTES if route != "openvino_int8_full_bias_correction")


@dataclass
class Route:
    name: str
    path: Path
    engine: Any
    build_seconds: float
    throughput: Callable[[float], float] | None = None
    latencies_ms: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)


class OpenVinoThroughput:
    """One compiled model with the THROUGHPUT hint and its optimal number of async requests, kept
    across rounds (compiling per round would measure nothing extra and waste minutes on mpt-base)."""

    def __init__(self, path: Path, feeds: dict[str, np.ndarray], precision: str | None) -> None:
        import openvino as ov

        config = {"PERFORMANCE_HINT": "THROUGHPUT", **({"INFERENCE_PRECISION_HINT": precision} if precision else {})}
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.requests = self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.queue = ov.AsyncInferQueue(self.compiled, self.requests)
        self.feeds = feeds

    def __call__(self, seconds: float) -> float:
        for _ in range(2 * self.requests):
            self.queue.start_async(self.feeds)
        self.queue.wait_all()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.queue.start_async(self.feeds)
            done += 1
        self.queue.wait_all()
        return done / (time.perf_counter() - start)


def timed_calls(call: Callable[[], object], seconds: float) -> list[float]:
    """Milliseconds of every call during ``seconds`` (after 3 warm-up calls)."""
    for _ in range(3):
        call()
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        begin = time.perf_counter()
        call()
        times.append((time.perf_counter() - begin) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def model_checkpoint(name: str, given: Path | None, scratch: Path, class_names: list[str]) -> Path:
    """The trained checkpoint, or a random-init one saved for the export."""
    if given is not None:
        return given
    import torch

    from train.checkpoint import save_checkpoint
    from train.configs import get_config
    from train.model import MPT

    torch.manual_seed(0)
    model = MPT(get_config(name, num_classes=len(class_names)))
    model.eval()
    return save_checkpoint(scratch / f"{name}-random.pt", model, class_names)


# Set by --emulate-no-vnni: the inference precision of every OpenVINO model (None: OpenVINO's default).
OPENVINO_PRECISION: dict[str, str | None] = {"all": None}


def build_routes(
    names: list[str],
    onnx_path: Path,
    scratch: Path,
    calibration: list[dict[str, np.ndarray]],
    feed: dict[str, np.ndarray],
    log: Callable[[str], None],
) -> list[Route]:
    import nncf
    import openvino as ov
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from app.commands.common import json_only_stdout
    from calibrate.backends import quantize_openvino, quantize_qdq
    from mpt_edge.engines.onnxruntime import OnnxRuntimeEngine
    from mpt_edge.engines.openvino import OpenVinoEngine

    nncf_settings = {
        "openvino_int8": {},
        "openvino_int8_smoothquant": {"smooth_quant": True},
        "openvino_int8_cnn_preset": {"transformer": False},
        "openvino_int8_full_bias_correction": {"fast_bias_correction": False},
    }
    routes = []
    for name in names:
        start = time.perf_counter()
        precision = None
        with json_only_stdout(True):  # NNCF's progress bars and tables go to stdout, which carries the JSON
            if name in ("openvino_fp32", "onnxruntime_fp32"):
                path = onnx_path
                precision = "f32" if name == "openvino_fp32" else None
            elif name in nncf_settings:
                path = quantize_openvino(onnx_path, scratch / f"{name}.xml", calibration, **nncf_settings[name])
            elif name == "openvino_fp32_int8_weights":
                path = scratch / f"{name}.xml"
                compressed = nncf.compress_weights(
                    ov.Core().read_model(str(onnx_path)), mode=nncf.CompressWeightsMode.INT8_ASYM
                )
                ov.save_model(compressed, str(path), compress_to_fp16=False)
                precision = "f32"
            elif name in ("onnxruntime_qdq", "onnxruntime_qoperator"):
                path = quantize_qdq(
                    onnx_path,
                    scratch / f"{name}.onnx",
                    calibration,
                    tensorrt=False,
                    operator_format=name == "onnxruntime_qoperator",
                )
            elif name == "onnxruntime_dynamic":
                path = scratch / f"{name}.onnx"
                quantize_dynamic(
                    str(onnx_path), str(path), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"]
                )
            else:
                raise SystemExit(f"unknown route {name!r}; choose from {', '.join(ROUTES)}")
        build = time.perf_counter() - start
        precision = OPENVINO_PRECISION["all"] or precision
        if name.startswith("openvino"):
            engine = OpenVinoEngine(path, inference_precision=precision)
            throughput: Callable[[float], float] | None = OpenVinoThroughput(path, feed, precision)
        else:
            engine, throughput = OnnxRuntimeEngine(path), None
        routes.append(Route(name, path, engine, round(build, 1), throughput))
        log(f"  built {name} in {build:.1f} s ({model_bytes(path) / 1e6:.1f} MB)")
    return routes


def accuracy(
    routes: list[Route], eval_feeds: list[dict[str, np.ndarray]], labels: np.ndarray, classes: int
) -> dict[str, dict[str, float]]:
    from train.metrics import summarize

    logits = {route.name: np.concatenate([route.engine.infer(feed) for feed in eval_feeds]) for route in routes}
    reference = logits.get(REFERENCE, next(iter(logits.values())))
    return {
        name: {
            "uf1": round(summarize(labels, values.argmax(1), classes).uf1, 4),
            "agreement_with_fp32": round(float((values.argmax(1) == reference.argmax(1)).mean()), 4),
            "max_abs_dlogit": round(float(np.abs(values - reference).max()), 4),
        }
        for name, values in logits.items()
    }


def measure(routes: list[Route], feed: dict[str, np.ndarray], rounds: int, seconds: float) -> None:
    """Round-robin: each round measures every route once, so drift hits all routes alike."""
    for _ in range(rounds):
        for route in routes:
            route.latencies_ms.extend(timed_calls(lambda route=route: route.engine.infer(feed), seconds))
            if route.throughput is not None:
                route.rates.append(route.throughput(seconds))
            else:  # ONNX Runtime has no async queue: sequential batch-1 calls
                route.rates.append(1000 / statistics.mean(route.latencies_ms[-50:]))


def bench_model(
    name: str,
    checkpoint: Path | None,
    preset: str,
    routes: list[str],
    args: argparse.Namespace,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from calibrate.run import _feeds, split_subjects
    from calibrate.sampling import stratified_indices
    from mpt_edge.motion.config import MotionConfig
    from mpt_edge.onnx_meta import read_onnx_meta
    from train.checkpoint import read_checkpoint
    from train.data.pairs import load_pairs
    from train.export import export_onnx
    from train.options import synthetic_set
    from train.session import open_with_progress, synthetic_of_data

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        spec = None
        if checkpoint is not None:
            spec = synthetic_of_data((read_checkpoint(checkpoint).get("identity") or {}).get("data"))
        spec = spec or synthetic_set(preset)
        source = open_with_progress(None, "synthetic", None, spec, False, 224, "haar", lambda *a, **k: None)
        pairs = load_pairs(source.records, 224)
        ckpt = model_checkpoint(name, checkpoint, scratch, list(source.class_names))
        onnx_path = scratch / "model.onnx"
        log(f"{name}: exporting {'trained' if checkpoint else 'random-init'} weights")
        export_onnx(ckpt, onnx_path)
        meta = read_onnx_meta(onnx_path)
        motion = MotionConfig.from_dict(meta["motion_config"])
        held_out, split = split_subjects(meta, pairs.subjects)
        subjects = np.array(pairs.subjects)
        train_idx = np.flatnonzero(~np.isin(subjects, held_out))
        eval_idx = np.flatnonzero(np.isin(subjects, held_out))[: args.eval_clips]
        chosen = train_idx[
            stratified_indices(
                pairs.labels[train_idx], [pairs.subjects[i] for i in train_idx], args.calibration_size, 0
            )
        ]
        calibration = _feeds(pairs, chosen, motion, list(meta["inputs"]))
        eval_feeds = _feeds(pairs, eval_idx, motion, list(meta["inputs"]))
        feed = eval_feeds[0]
        built = build_routes(routes, onnx_path, scratch, calibration, feed, log)
        log(f"{name}: accuracy on {len(eval_feeds)} held-out clips")
        scores = accuracy(built, eval_feeds, pairs.labels[eval_idx], len(meta["class_names"]))
        grid = int(meta["model_config"]["image_size"]) // int(meta["model_config"]["patch_size"])
        fidelity_feeds = eval_feeds[: args.fidelity_clips]
        fp32_tokens = final_tokens(onnx_path, final_tokens_name(onnx_path), fidelity_feeds)  # once, for every route
        for route in built:  # what the head reads, FP32 vs this route (quantized routes only)
            if route.name not in FP32_ROUTES:
                try:
                    fidelity = backbone_fidelity(
                        onnx_path, route.path, fidelity_feeds, grid * grid, reference=fp32_tokens
                    )
                except (ValueError, RuntimeError) as error:  # a route whose graph no longer has the tensor by name
                    log(f"{name} {route.name}: no backbone fidelity ({str(error).splitlines()[0][:120]})")
                    continue
                scores[route.name]["backbone_cls_cosine"] = fidelity["cls"]["cosine_mean"]
                scores[route.name]["backbone_cls_sqnr_db"] = fidelity["cls"]["sqnr_db"]
                scores[route.name]["backbone_patch_cosine"] = fidelity["patch_tokens"]["cosine_mean"]
        log(f"{name}: timing {len(built)} routes, {args.rounds} rounds of {args.seconds:g} s each")
        measure(built, feed, args.rounds, args.seconds)
        reference = next((r for r in built if r.name == REFERENCE), built[0])
        ref_p50 = percentile(reference.latencies_ms, 50)
        ref_rate = statistics.median(reference.rates)
        result = {
            "weights": f"trained ({checkpoint})" if checkpoint else "random init (accuracy: agreement with FP32 only)",
            "data": {
                "synthetic": spec.__dict__,
                "held_out_clips": len(eval_feeds),
                "split": split,
                "calibration_clips": len(calibration),
            },
            "routes": {},
        }
        for route in built:
            p50 = percentile(route.latencies_ms, 50)
            rate = statistics.median(route.rates)
            result["routes"][route.name] = {
                "p50_ms": round(p50, 2),
                "p99_ms": round(percentile(route.latencies_ms, 99), 2),
                "calls": len(route.latencies_ms),
                "throughput_per_s": round(rate, 2),
                "throughput_kind": "async, THROUGHPUT hint" if route.throughput else "sequential",
                "speedup_p50_vs_fp32": round(ref_p50 / p50, 3),
                "speedup_throughput_vs_fp32": round(rate / ref_rate, 3),
                "megabytes": round(model_bytes(route.path) / 1e6, 1),
                "build_seconds": route.build_seconds,
                **scores[route.name],
            }
        del built
        gc.collect()
    return result


def fastest_int8(routes: dict[str, dict[str, Any]], max_drop: float = 0.01) -> dict[str, Any] | None:
    """The INT8 route (any route but the two FP32 ones) with the lowest p50 whose held-out UF1 is within
    ``max_drop`` of OpenVINO FP32's (the issue's bar: <= 1 point)."""
    reference = routes[REFERENCE]["uf1"]
    eligible = [(name, r) for name, r in routes.items() if name not in FP32_ROUTES and reference - r["uf1"] <= max_drop]
    if not eligible:
        return None
    name, best = min(eligible, key=lambda item: item[1]["p50_ms"])
    return {
        "route": name,
        "speedup_p50_vs_fp32": best["speedup_p50_vs_fp32"],
        "uf1_drop": round(reference - best["uf1"], 4),
    }


def machine() -> dict[str, Any]:
    import openvino as ov

    from mpt_edge.precision import cpu_model_and_flags

    cpu, flags = cpu_model_and_flags()
    return {
        "cpu": cpu,
        "int8_flags": flags,
        "cores": os.cpu_count(),
        "openvino_capabilities": list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "openvino_precision_pinned": OPENVINO_PRECISION["all"],
        "versions": {
            "openvino": ov.__version__.split("-")[0],
            "onnxruntime": __import__("onnxruntime").__version__,
            "nncf": __import__("nncf").__version__,
        },
    }


def chart(results: dict[str, Any], info: dict[str, Any], path: Path) -> None:
    """One panel per model: speed-up of batch-1 p50 latency over OpenVINO FP32 per route, labelled
    with held-out UF1 (trained weights) or agreement with FP32 (random init)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mpt_edge.io import atomic_write_bytes

    models = list(results)
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 + 3.4 * len(models), 4.8), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        routes = results[model]["routes"]
        names = list(routes)
        speed = [routes[n]["speedup_p50_vs_fp32"] for n in names]
        colors = [
            "#888888" if "fp32" in n and "int8" not in n else "#1f77b4" if n.startswith("openvino") else "#ff7f0e"
            for n in names
        ]
        bars = ax.barh(names, speed, color=colors)
        trained = results[model]["weights"].startswith("trained")
        for bar, n in zip(bars, names):
            label = f"UF1 {routes[n]['uf1']:.3f}" if trained else f"agree {routes[n]['agreement_with_fp32']:.0%}"
            ax.text(
                bar.get_width() + 0.03,
                bar.get_y() + bar.get_height() / 2,
                f"{bar.get_width():.2f}x  {label}",
                va="center",
                fontsize=7,
            )
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_title(
            f"{model} (OpenVINO FP32 p50 {routes.get(REFERENCE, {}).get('p50_ms', float('nan')):.1f} ms)", fontsize=9
        )
        ax.set_xlabel("batch-1 speed-up over OpenVINO FP32 (p50)")
        ax.set_xlim(0, max(speed) * 1.6)
        ax.invert_yaxis()
    isa = (
        f" — emulated without VNNI/BF16: ONEDNN_MAX_CPU_ISA={info['onednn_max_cpu_isa']}, OpenVINO pinned to f32"
        if info["openvino_precision_pinned"]
        else ""
    )
    fig.suptitle(
        f"INT8 routes on {info['cpu']}, {info['cores']} cores\n{', '.join(info['int8_flags']) or 'no VNNI/AMX'}{isa}",
        fontsize=9,
    )
    fig.tight_layout()
    staged = path.with_suffix(".tmp.png")
    fig.savefig(staged, dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, staged.read_bytes())
    staged.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mpt-tiny,mpt-small,mpt-base", help="comma-separated model configs")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="MODEL=PATH",
        help="trained weights for a model (repeatable); others are random init",
    )
    parser.add_argument(
        "--preset", default="hard", help="synthetic preset for random-init models' data (trained ones use their own)"
    )
    parser.add_argument(
        "--routes", default=",".join(DEFAULT_ROUTES), help=f"comma-separated, from: {', '.join(ROUTES)}"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--calibration-size", type=int, default=64)
    parser.add_argument("--eval-clips", type=int, default=96, help="held-out clips scored per route")
    parser.add_argument(
        "--fidelity-clips",
        type=int,
        default=16,
        help="held-out clips for the backbone's [CLS]/patch-token cosine and SQNR per INT8 route",
    )
    parser.add_argument(
        "--emulate-no-vnni", action="store_true", help="OpenVINO as on an AVX-512 CPU without VNNI/BF16 (see above)"
    )
    parser.add_argument("--chart", type=Path, help="write the PNG chart here")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.emulate_no_vnni:  # before OpenVINO loads oneDNN
        os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE"
        OPENVINO_PRECISION["all"] = "f32"

    from mpt_edge.io import atomic_write_bytes

    checkpoints = {}
    for item in args.checkpoint:
        model, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            raise SystemExit(f"--checkpoint {item!r}: expected MODEL=PATH to an existing .pt file")
        checkpoints[model] = Path(path)
    routes = [r for r in args.routes.split(",") if r]
    if REFERENCE not in routes:
        routes.insert(0, REFERENCE)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    info = machine()
    results = {
        model: bench_model(model, checkpoints.get(model), args.preset, routes, args, log)
        for model in args.models.split(",")
        if model
    }
    report = {
        "benchmark": "int8_routes",
        "unit": "ms per batch-1 inference; inferences/s",
        "machine": info,
        "rounds": args.rounds,
        "seconds_per_measurement": args.seconds,
        "models": results,
        "fastest_int8_route_within_1_point_uf1": {model: fastest_int8(res["routes"]) for model, res in results.items()},
    }
    text = json.dumps(report, indent=2)
    if args.out:
        atomic_write_bytes(args.out, (text + "\n").encode())
    if args.chart:
        chart(results, info, args.chart)
    print(text)


if __name__ == "__main__":
    main()
