"""Bodies of ``mpt-edge targets``, ``build``, ``bench`` and ``unpack`` (options live in mpt_edge.cli)."""

from __future__ import annotations

import statistics
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Optional

import numpy as np
from rich.console import Console
from rich.table import Table

from targets import REGISTRY, get_target


def targets_table(as_json: bool) -> list[dict[str, Any]]:
    rows = []
    gpu_here = find_spec("tensorrt") is not None and __import__("shutil").which("nvidia-smi") is not None
    for profile in REGISTRY.values():
        missing = profile.missing()
        if missing:
            here = f"no: pip install {', '.join(missing)}"
        elif profile.backend == "tensorrt":
            here = "bundle yes; engine built here too" if gpu_here else "bundle yes (Q/DQ ONNX + build scripts); engine on the device"
        else:
            here = "yes"
        rows.append({"target": profile.name, "backend": profile.backend, "precision": profile.precision, "needs": list(profile.needs), "builds_here": here, "description": profile.description})
    if not as_json:
        table = Table(title="mpt-edge targets")
        for column in ("target", "backend", "precision", "build needs", "can build here", "what"):
            table.add_column(column, no_wrap=column in ("target", "precision"))
        for row in rows:
            table.add_row(row["target"], row["backend"], row["precision"], ", ".join(row["needs"]), row["builds_here"], row["description"])
        Console().print(table)
    return rows


def build_command(*, source: Path, target: str, out: Path, work: Optional[Path], dataset: str, root: Optional[Path], size: int, face_detector: str, tar: bool, as_json: bool) -> dict[str, Any]:
    from targets.build import build_bundle

    profile = get_target(target)
    console = Console(stderr=True, quiet=as_json)
    work = work or out.parent / f".{out.name}.work"

    def load_pairs():
        from mpt_edge.onnx_meta import read_onnx_meta
        from train.cli_train import report_source, synthetic_of_model
        from train.data.pairs import load_pairs as decode
        from train.data.sources import open_dataset

        meta = read_onnx_meta(work / "model.onnx" if source.suffix == ".pt" else source)
        face_size = int(meta["motion_config"]["face_size"])
        synthetic = synthetic_of_model(meta) if dataset == "synthetic" and root is None else None
        data = open_dataset(dataset, root, synthetic, False, None, face_size, face_detector)
        report_source(data, console.print)
        return decode(data.records, face_size)

    bundle = build_bundle(source, profile, out, work, load_pairs, size, tar, console.print)
    summary = {"bundle": str(out), "target": target, "backend": bundle.backend, "precision": bundle.manifest["precision"],
               "files": sorted(bundle.manifest["files"]), "validation": bundle.manifest["validation"], "tar": str(out.with_suffix(".tar")) if tar else None}
    if not as_json:
        held = bundle.manifest["validation"]["held_out"]
        line = f"wrote bundle {out} for {target} ({bundle.backend}, {bundle.manifest['precision']}): {', '.join(summary['files'])}"
        if "int8" in held:
            line += f"; held-out UF1 FP32 {held['fp32']['uf1']:.3f} / INT8 {held['int8']['uf1']:.3f}, agreement {held['agreement']:.1%}"
        console.print(line)
    return summary


def bench_command(*, bundle_path: Path, seconds: float, warmup: int, as_json: bool, precision: str = "auto") -> dict[str, Any]:
    """The precision the device would run (auto: measured once and cached), and with two models in the
    bundle the other one too, so the user sees what the choice was worth."""
    from mpt_edge.bundle import load_bundle
    from mpt_edge.precision import available, resolve_precision

    bundle = load_bundle(bundle_path)
    log = Console(stderr=True, quiet=as_json).print
    chosen = resolve_precision(bundle, precision, log)
    result = _bench_one(bundle, chosen, seconds, warmup)
    result["precision_chosen_by"] = "auto (measured on this CPU)" if precision == "auto" and len(available(bundle)) > 1 else "bundle" if precision == "auto" else "--precision"
    result["by_precision"] = {chosen: {k: result[k] for k in ("latency_ms", "throughput_per_s", "runs")}}
    for other in sorted(set(available(bundle)) - {chosen}):
        result["by_precision"][other] = {k: v for k, v in _bench_one(bundle, other, seconds, warmup).items() if k in ("latency_ms", "throughput_per_s", "runs")}
    if not as_json:
        for name, figures in result["by_precision"].items():
            mark = " (used)" if name == chosen else ""
            Console().print(f"{result['target']} ({result['backend']} {name}{mark}): p50 {figures['latency_ms']['p50']:.2f} ms, p99 {figures['latency_ms']['p99']:.2f} ms, "
                            f"{figures['throughput_per_s']:.1f} inferences/s over {figures['runs']} runs")
    return result


def _bench_one(bundle: Any, precision: str, seconds: float, warmup: int) -> dict[str, Any]:
    from mpt_edge.engines import open_bundle_engine
    from mpt_edge.precision import random_feeds

    engine = open_bundle_engine(bundle, precision=precision)
    feeds = random_feeds(bundle)
    for _ in range(warmup):
        engine.infer(feeds)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 10:
        t = time.perf_counter()
        engine.infer(feeds)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "bundle": str(bundle.root), "target": bundle.manifest["target"]["name"], "backend": bundle.backend, "precision": precision,
        "runs": len(times), "latency_ms": {"p50": round(statistics.median(times), 3), "p99": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3), "mean": round(statistics.fmean(times), 3)},
        "throughput_per_s": round(1000 * len(times) / sum(times), 2),
    }
