"""Bodies of ``mpt-edge targets``, ``build``, ``bench`` and ``unpack`` (options live in mpt_edge.cli)."""

from __future__ import annotations

import statistics
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

from mpt_edge.errors import MptEdgeError
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
    if out.exists() and not out.is_dir():
        raise MptEdgeError(f"--out {out} is an existing file, not a folder; choose a folder for the bundle (it is created if missing)")
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
    """The precision the device would run (auto: measured once and cached), timed *alone* — what it
    runs like on the device — and, with two models in the bundle, both timed interleaved as a
    comparison of their own (``by_precision``): beside the other model's executions each runs slower
    (an openvino-cpu bundle's FP32 read ~10 % slower interleaved than alone)."""
    from mpt_edge.bundle import load_bundle
    from mpt_edge.engines import open_bundle_engine
    from mpt_edge.precision import available, interleaved_times, random_feeds, resolve_precision

    bundle = load_bundle(bundle_path)
    chosen = resolve_precision(bundle, precision, Console(stderr=True, quiet=as_json).print)
    measured = [chosen, *sorted(set(available(bundle)) - {chosen})]
    engines = {name: open_bundle_engine(bundle, precision=name) for name in measured}
    feeds = random_feeds(bundle)
    alone = _latency_figures(interleaved_times({chosen: engines[chosen]}, feeds, seconds, warmup, min_runs=10)[chosen])
    by_precision = {chosen: alone}
    if len(engines) > 1:
        times = interleaved_times(engines, feeds, seconds * len(engines), warmup, min_runs=10)
        by_precision = {name: _latency_figures(times[name]) for name in measured}
    if precision != "auto":
        chosen_by = "--precision"
    else:
        chosen_by = "auto (measured on this CPU)" if len(measured) > 1 else "bundle"
    result = {
        "bundle": str(bundle.root), "target": bundle.manifest["target"]["name"], "backend": bundle.backend, "precision": chosen,
        **alone, "measured": "alone", "precision_chosen_by": chosen_by, "by_precision": by_precision,
        "by_precision_measured": "interleaved" if len(engines) > 1 else "alone",
    }
    if not as_json:
        rows = [(f"{chosen} (used, alone)", alone)] + ([(f"{name} (interleaved)", f) for name, f in by_precision.items()] if len(engines) > 1 else [])
        for name, figures in rows:
            Console().print(f"{result['target']} ({result['backend']} {name}): p50 {figures['latency_ms']['p50']:.2f} ms, p99 {figures['latency_ms']['p99']:.2f} ms, "
                            f"{figures['throughput_per_s']:.1f} inferences/s over {figures['runs']} runs")
    return result


def _latency_figures(times: list[float]) -> dict[str, Any]:
    times = sorted(times)
    return {
        "runs": len(times), "latency_ms": {"p50": round(statistics.median(times), 3), "p99": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3), "mean": round(statistics.fmean(times), 3)},
        "throughput_per_s": round(1000 * len(times) / sum(times), 2),
    }
