"""Which precision a CPU bundle runs in on *this* device, chosen by measurement.

INT8 pays only where the CPU has fast integer dot products (VNNI, AMX) or the matrices are large: on
an AVX2 CPU without VNNI the INT8 IR ran at 0.73x the FP32 speed, on an AVX-512 VNNI one at ~2x. So a
CPU bundle carries both models (manifest ``precisions``: precision -> role), and on its first start
on a device the runtime times both for about two seconds, interleaved, and keeps the faster; FP32 wins
ties (it is the more accurate). The decision is cached *beside* the bundle (``<bundle>.precision.json``,
never inside it: the bundle's files are hash-verified) with the CPU it was made on, and a different
CPU, runtime version or bundle re-decides. Nothing about the user's frames is written.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mpt_edge.backends import Backend
from mpt_edge.errors import InputError
from mpt_edge.io import atomic_write_bytes

if TYPE_CHECKING:
    from mpt_edge.bundle import BundleFiles
    from mpt_edge.engines import Engine

CHOICES = ("auto", "int8", "fp32")
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "amx_tile")
TIMING_SECONDS = 2.0
DECISION_VERSION = 1


def decision_path(bundle: BundleFiles) -> Path:
    root = Path(bundle.root).resolve()
    return root.parent / f"{root.name}.precision.json"


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """(CPU model name, its flags that matter for INT8/bf16 speed) from /proc/cpuinfo (Linux; elsewhere
    the platform's processor string and no flags)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return name, sorted(flags & set(INT8_FLAGS))


def cpu_identity(backend: str) -> dict[str, Any]:
    """What decides INT8 speed: the CPU model, its integer-dot-product flags, and (OpenVINO) what the
    plugin says it can optimise."""
    name, flags = cpu_model_and_flags()
    identity: dict[str, Any] = {"cpu": name, "flags": flags, "backend": backend}
    if backend == Backend.OPENVINO:
        from mpt_edge.engines.openvino import openvino_module

        ov = openvino_module()
        core = ov.Core()
        identity["openvino"] = ov.get_version()
        identity["optimization_capabilities"] = sorted(
            str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        )
        if os.environ.get(
            "ONEDNN_MAX_CPU_ISA"
        ):  # caps oneDNN's kernels (e.g. AVX512_CORE: no VNNI): another CPU, in effect
            identity["onednn_max_cpu_isa"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    elif backend == Backend.ONNXRUNTIME:
        import onnxruntime as ort

        identity["onnxruntime"] = ort.__version__
    return identity


def interleaved_times(
    engines: dict[str, Engine],
    feeds: dict[str, np.ndarray],
    seconds: float,
    warmup: int = 2,
    min_runs: int = 5,
    rounds: int = 5,
) -> dict[str, list[float]]:
    """Batch-1 latencies (ms) of each engine over about ``seconds`` in all: ``rounds`` rounds, each
    engine measured for a block in every round (so a clock or thermal drift hits all alike), the
    first inference after each switch untimed (it pays for the other model's cache), after
    ``warmup`` untimed inferences of each. Alternating every inference instead measured both ~30 %
    slower for mpt-tiny: two models evicting each other's weights, which no deployment does."""
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(warmup):
        for engine in engines.values():
            engine.infer(feeds)
    block, per_block = seconds / (rounds * max(1, len(engines))), -(-min_runs // rounds)
    for _ in range(rounds):
        for name, engine in engines.items():
            engine.infer(feeds)
            started, count = time.perf_counter(), 0
            while time.perf_counter() - started < block or count < per_block:
                began = time.perf_counter()
                engine.infer(feeds)
                times[name].append((time.perf_counter() - began) * 1000)
                count += 1
    return times


def time_interleaved(
    engines: dict[str, Engine], feeds: dict[str, np.ndarray], seconds: float = TIMING_SECONDS
) -> dict[str, float]:
    """Median batch-1 latency (ms) of each engine, measured interleaved (:func:`interleaved_times`)."""
    return {name: round(statistics.median(t), 3) for name, t in interleaved_times(engines, feeds, seconds).items()}


def random_feeds(bundle: BundleFiles) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal(tuple(shape), dtype=np.float32) for name, shape in bundle.inputs.items()}


def resolve_precision(
    bundle: BundleFiles,
    requested: str = "auto",
    log: Callable[[str], None] = print,
    open_engine: Callable[[BundleFiles, str], Engine] | None = None,
    seconds: float = TIMING_SECONDS,
) -> str:
    """The precision to run: ``requested`` if the bundle has it, else (auto) the cached or measured
    faster one on this device."""
    if requested not in CHOICES:
        raise InputError(f"--precision {requested!r}: choose one of {', '.join(CHOICES)}")
    models = bundle.models
    if requested != "auto":
        if requested not in models:
            raise InputError(
                f"bundle {bundle.root} carries only {', '.join(sorted(models))}; rebuild it for a "
                f"CPU target to get both, or pass --precision {next(iter(models))}"
            )
        return requested
    if len(models) == 1:
        return next(iter(models))
    if bundle.backend == Backend.TRITON:  # the server's hardware, not this host's, decides: the build's precision
        return bundle.precision
    identity = {
        **cpu_identity(bundle.backend),
        "bundle_sha256": bundle.manifest.fp32_onnx_sha256,
    }
    cached = read_decision(bundle)
    if cached and cached.get("identity") == identity and cached.get("precision") in models:
        return str(cached["precision"])
    if open_engine is None:
        from mpt_edge.engines import open_bundle_engine

        def open_engine(b: BundleFiles, p: str) -> Engine:
            return open_bundle_engine(b, log, precision=p)

    log(
        f"timing {' and '.join(sorted(models))} on this CPU ({identity['cpu']}) for ~{seconds:.0f} s to pick the faster"
    )
    latency = time_interleaved({p: open_engine(bundle, p) for p in sorted(models)}, random_feeds(bundle), seconds)
    choice = (
        "int8" if "int8" in latency and latency["int8"] < min(v for p, v in latency.items() if p != "int8") else "fp32"
    )
    log(
        f"precision: {choice} (batch-1 median {', '.join(f'{p} {v:.2f} ms' for p, v in sorted(latency.items()))}); "
        f"cached in {decision_path(bundle)}"
    )
    write_decision(
        bundle,
        {
            "version": DECISION_VERSION,
            "precision": choice,
            "latency_ms_p50": latency,
            "identity": identity,
            "decided_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        log,
    )
    return choice


def read_decision(bundle: BundleFiles) -> dict[str, Any] | None:
    """The cached decision, or None when absent, unreadable or from another format (then re-decided)."""
    try:
        data = json.loads(decision_path(bundle).read_text())
        return data if isinstance(data, dict) and data.get("version") == DECISION_VERSION else None
    except (OSError, ValueError):
        return None


def write_decision(bundle: BundleFiles, decision: dict[str, Any], log: Callable[[str], None]) -> None:
    try:
        atomic_write_bytes(decision_path(bundle), json.dumps(decision, indent=1).encode())
    except OSError as error:  # a read-only bundle location: decide again next start, still run
        log(f"note: could not cache the precision decision ({error.strerror}); it is re-measured on every start")
