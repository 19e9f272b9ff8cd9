"""Body of ``mpt-edge train`` (the Typer options live in :mod:`mpt_edge.cli`, which imports this
lazily so the device install never loads torch)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from rich.console import Console
from rich.table import Table

from mpt_edge.errors import MptEdgeError
from train.data.pairs import load_pairs
from train.data.sources import DataSource, open_dataset
from train.data.synthetic_folder import SyntheticSpec
from train.distributed import init_from_env, shutdown
from train.progress import EpochBars, counter, make_progress
from train.baselines import BASELINES, LABELS as BASELINE_LABELS
from train.grid import GridSpec, grid_size, run_grid
from train.runner import RunSpec, run_training


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MptEdgeError("--device cuda: no CUDA device is visible to torch here; use --device cpu (or auto)")
    if name not in ("cpu", "cuda"):
        raise MptEdgeError(f"--device {name!r}: choose auto, cpu or cuda")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def train_command(
    *, dataset: str, root: Optional[Path], skip_invalid: bool, synthetic: SyntheticSpec, spec: RunSpec,
    out: Path, resume: bool, device_name: str, as_json: bool, face_detector: str = "haar", grid: Optional[GridSpec] = None,
) -> dict[str, Any]:
    """One training run, or with a ``grid`` (``--ablate``) the motion prompt grid (:mod:`train.grid`)."""
    device = resolve_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist = init_from_env(device)
    if grid is not None and dist.enabled:
        shutdown(dist)
        raise MptEdgeError("--ablate runs its cells one after another in one process; start it without torchrun")
    quiet = as_json or not dist.is_main
    console = Console(stderr=True, quiet=quiet)
    log = console.print if not quiet else (lambda *_: None)
    started = time.perf_counter()
    try:
        with make_progress(console) as progress:
            bars = None if quiet else progress
            face_size = _face_size(spec)
            source = open_with_progress(bars, dataset, root, synthetic, skip_invalid, face_size, face_detector, log)
            pairs = load_pairs(source.records, face_size, counter(bars, "decoding onset/apex frames", len(source.records)))
            if grid is not None:
                tick = _grid_ticker(bars, grid_size(grid))
                summary = run_grid(spec, grid, pairs, source.class_names, source.identity, out, resume, device, log, tick)
            else:
                metrics = run_training(
                    spec, pairs, source.class_names, source.identity, out, resume, device, dist,
                    (lambda fold: EpochBars(progress, fold.name, log)) if not quiet else None, log,
                )
    finally:
        shutdown(dist)
    if not dist.is_main:
        return {}
    if grid is not None:
        summary["wall_seconds"] = round(time.perf_counter() - started, 1)
        if not as_json:
            print_grid_summary(console, summary)
        return summary
    summary = _summary(metrics, out, time.perf_counter() - started)
    if not as_json:
        _print_summary(console if not quiet else Console(stderr=True), summary)
    return summary


def _grid_ticker(bars: Optional[Any], total: int) -> Callable[[str], None]:
    """One bar over the grid's runs, its status the last run's result."""
    if bars is None:
        return lambda _: None
    task = bars.add_task("ablation grid (runs)", total=total, status="")
    return lambda status: bars.update(task, advance=1, status=status)


def open_with_progress(
    bars: Optional[Any], dataset: str, root: Optional[Path], synthetic: Optional[SyntheticSpec], skip_invalid: bool,
    face_size: int, face_detector: str, log: Callable[..., None],
) -> DataSource:
    """open_dataset with progress bars for generating / aligning, then what was read reported."""
    shown = synthetic or SyntheticSpec()  # None: whatever set is at --root; its size is only for the bar
    tick = counter(bars, "generating synthetic set", shown.subjects * shown.clips_per_class * shown.classes) if dataset == "synthetic" else None
    source = open_dataset(dataset, root, synthetic, skip_invalid, tick, face_size, face_detector, progress=lambda what, total: counter(bars, what, total))
    report_source(source, log)
    return source


def report_source(source: DataSource, log: Callable[..., None]) -> None:
    """What was read, skipped and deliberately left out: never silent."""
    for note in source.notes:
        log(f"note: {note}")
    if source.skipped:
        log(f"[yellow]skipped {len(source.skipped)} invalid clip(s) (--skip-invalid): {source.skipped[0]}{' ...' if len(source.skipped) > 1 else ''}")
    log(f"data: {len(source.records)} clips of {len({r.subject for r in source.records})} subjects from {source.root}")


def _face_size(spec: RunSpec) -> int:
    from train.configs import get_config

    return get_config(spec.model).image_size


def _scores(pooled: dict[str, Any]) -> dict[str, Any]:
    return {"uf1": pooled.get("uf1"), "uar": pooled.get("uar"), "accuracy": pooled.get("accuracy"), "samples": pooled.get("samples")}


def _summary(metrics: dict[str, Any], out: Path, seconds: float) -> dict[str, Any]:
    row = {
        **_scores(metrics.get("pooled", {})),
        "folds": f"{metrics['folds_finished']}/{metrics['folds_total']}",
        "complete": metrics["complete"], "train_seconds": metrics["train_seconds"], "alpha": metrics["alpha"],
        "baselines": {b: _scores(v["pooled"]) for b, v in metrics.get("baselines", {}).items()},
        "metrics": str(out / "metrics.json"),
    }
    return {"out": str(out), "wall_seconds": round(seconds, 1), "runs": {"mpt": row}}


def _fmt(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(label, scores, train seconds) per line: the run, then its baselines on the same clips."""
    lines = []
    for row in summary["runs"].values():
        lines.append(("MPT (this model)", row, str(row["train_seconds"])))
        for name in BASELINES:
            if name in row["baselines"]:
                lines.append((f"  baseline: {BASELINE_LABELS[name]}", row["baselines"][name], "-"))
    return lines


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="held-out subjects, pooled")
    for column in ("", "UF1", "UAR", "accuracy", "clips", "train s"):
        table.add_column(column, justify="left" if not column else "right")
    for label, scores, seconds in _table_rows(summary):
        table.add_row(label, _fmt(scores["uf1"]), _fmt(scores["uar"]), _fmt(scores["accuracy"]), str(scores["samples"] or "-"), seconds)
    console.print(table)
    for row in summary["runs"].values():
        flow = row["baselines"].get("flow", {}).get("uf1")
        probe = row["baselines"].get("probe", {}).get("uf1")
        if row["uf1"] is not None and flow is not None and probe is not None and row["uf1"] < max(probe, flow - 0.02):
            console.print(f"[yellow]UF1 {row['uf1']:.3f} is below the baselines (probe {probe:.3f}, flow {flow:.3f}): "
                          "the model has not learned the motion as well as a linear classifier; see README 'What the model learns'")
    out = Path(summary["out"])
    written = [out / n for n in ("metrics.json", "predictions.csv", "confusion.png", "baselines.png", "curves.png", "best.pt")]
    console.print("wrote " + ", ".join(str(p) for p in written if p.exists()) + f" in {summary['wall_seconds']:.0f} s")


def print_grid_summary(console: Console, summary: dict[str, Any]) -> None:
    """The grid's ranking (best first) and what it wrote."""
    table = Table(title=f"motion prompt grid: held-out UF1 over {summary['grid']['splits']} splits")
    for column in ("cell", "model", "probe", "flow"):
        table.add_column(column, justify="left" if column == "cell" else "right")
    for name in summary["ranking"]:
        row = summary["cells"][name]
        table.add_row(name, *(f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}" if row.get(k, {}).get("values") else "-" for k in ("model", "probe", "flow")))
    console.print(table)
    for name, row in summary["loso"].items():
        console.print(f"LOSO {name}: UF1 {row['model']:.3f} (probe {row.get('probe', float('nan')):.3f}, flow {row.get('flow', float('nan')):.3f}, {row['folds']} folds)")
    out = Path(summary["out"])
    console.print(f"wrote {out / 'ablation.md'}, {out / 'ablation.json'}, {out / 'ablation.png'}")


def prepare_command(*, dataset: str, root: Path, out: Path, face_size: int, face_detector: str, skip_invalid: bool, as_json: bool) -> dict[str, Any]:
    from mpt_edge.face import FaceAligner
    from train.data.sources import read_raw
    from train.prepare import prepare_records

    aligner = FaceAligner(face_size, face_detector)
    console = Console(stderr=True, quiet=as_json)
    raw, classes = read_raw(dataset, root, skip_invalid)
    for note in raw.notes:
        console.print(f"note: {note}")
    if raw.skipped:
        console.print(f"[yellow]skipped {len(raw.skipped)} invalid clip(s) (--skip-invalid): {raw.skipped[0]}{' ...' if len(raw.skipped) > 1 else ''}")
    with make_progress(console) as progress:
        summary = prepare_records(raw.records, out, dataset, classes, aligner, root, counter(None if as_json else progress, f"aligning {dataset} faces", len(raw.records)))
    result = {"out": str(out), "dataset": dataset, "clips": summary.clips, "reused": summary.reused, "alignment": summary.methods, "skipped": len(raw.skipped)}
    if not as_json:
        centre = summary.methods.get("centre", 0)
        console.print(
            f"wrote {summary.clips} aligned onset/apex pairs to {out} ({summary.reused} already there); alignment: "
            + ", ".join(f"{k} {v}" for k, v in sorted(summary.methods.items()))
            + (f". [yellow]{centre} clip(s) had no detectable face: the centred square was used" if centre else "")
        )
    return result


def synthetic_of_data(data: Any) -> Optional[SyntheticSpec]:
    """The synthetic set a data identity (``train.data.sources``) names, or None for real data or a
    record this version cannot read."""
    try:
        return SyntheticSpec(**data["synthetic"]) if data.get("dataset") == "synthetic" else None
    except (AttributeError, KeyError, TypeError, MptEdgeError):
        return None


def synthetic_of_run(model_path: Path) -> Optional[SyntheticSpec]:
    """The synthetic set a run folder was trained on (from its run.json), or None."""
    try:
        return synthetic_of_data(json.loads((Path(model_path) / "run.json").read_text())["identity"]["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def synthetic_of_model(meta: dict[str, Any]) -> Optional[SyntheticSpec]:
    """The synthetic set an exported model was trained on (its ONNX metadata's ``training_data``), or
    None: calibrating on the same set is the only sensible default when the user names no other."""
    return synthetic_of_data(meta.get("training_data"))


def eval_command(*, model_path: Path, dataset: str, root: Optional[Path], synthetic: SyntheticSpec, face_detector: str, skip_invalid: bool,
                 as_json: bool, baselines: bool = True, precision: str = "auto") -> dict[str, Any]:
    from train.checkpoint import read_checkpoint
    from train.evaluate import _jobs, evaluate, total_predictions

    first = _jobs(model_path)[0][1]
    if first.is_dir():  # a bundle
        from mpt_edge.bundle import load_bundle

        face_size = load_bundle(first).motion_config.face_size
    else:
        face_size = int(read_checkpoint(first)["model_config"]["image_size"])
    console = Console(stderr=True, quiet=as_json)
    with make_progress(console) as progress:
        bars = None if as_json else progress
        source = open_with_progress(bars, dataset, root, synthetic, skip_invalid, face_size, face_detector, console.print)
        result = evaluate(model_path, source, tick=counter(bars, "predicting", total_predictions(model_path, source)), baselines=baselines, precision=precision)
    if not as_json:
        table = Table(title=f"{dataset}: {result['folds']} model(s) from {model_path}")
        for column in ("data set", "UF1", "UAR", "accuracy", "clips"):
            table.add_column(column, justify="left" if column == "data set" else "right")
        rows = list(result["per_source"].items()) if len(result["per_source"]) > 1 else []
        for name, metrics in rows + [("composite" if rows else dataset, result["composite"])]:
            table.add_row(name, f"{metrics['uf1']:.4f}", f"{metrics['uar']:.4f}", f"{metrics['accuracy']:.4f}", str(metrics["samples"]))
        if result["baselines"]:  # short row names: the table must fit 80 columns
            table.caption = "; ".join(f"{name}: {metrics['label']}" for name, metrics in result["baselines"].items())
        for name, metrics in result["baselines"].items():
            table.add_row(f"baseline: {name}", f"{metrics['uf1']:.4f}", f"{metrics['uar']:.4f}", f"{metrics['accuracy']:.4f}", str(metrics["samples"]))
        console.print(table)
        if baselines and not result["baselines"]:
            console.print("baselines: shown for run folders only (they are refitted on each fold's training subjects)")
    return result


def calibrate_command(*, model: Path, backend: str, out: Path, dataset: str, root: Optional[Path], size: int, seed: int,
                      max_drop: Optional[float], face_detector: str, skip_invalid: bool, as_json: bool) -> dict[str, Any]:
    from calibrate.run import calibrate_model
    from mpt_edge.onnx_meta import read_onnx_meta

    meta = read_onnx_meta(model)
    face_size = int(meta["motion_config"]["face_size"])
    console = Console(stderr=True, quiet=as_json)  # with --json, the CLI keeps stdout to the report (json_only_stdout)
    with make_progress(console) as progress:
        bars = None if as_json else progress
        synthetic = synthetic_of_model(meta) if root is None else None
        source = open_with_progress(bars, dataset, root, synthetic, skip_invalid, face_size, face_detector, console.print)
        if list(source.class_names) != list(meta["class_names"]):
            raise MptEdgeError(f"{model} predicts {meta['class_names']} but {dataset} has {source.class_names}; calibrate with the data it was trained on")
        pairs = load_pairs(source.records, face_size, counter(bars, "decoding onset/apex frames", len(source.records)))
    report = calibrate_model(model, backend, out, pairs, size, seed, max_drop, console.print)
    if not as_json:
        table = Table(title=f"{backend} INT8 vs FP32 on {report['held_out_clips']} held-out clips")
        for column in ("", "UF1", "UAR", "accuracy", "size MB"):
            table.add_column(column, justify="right")
        for name in ("fp32", "int8"):
            m = report[name]
            table.add_row(name.upper(), f"{m['uf1']:.4f}", f"{m['uar']:.4f}", f"{m['accuracy']:.4f}", f"{report['bytes'][name] / 1e6:.1f}")
        console.print(table)
        latency = ", ".join(f"{k} {v['p50']:.1f} ms" for k, v in report["latency_ms_batch1"].items())
        console.print(f"prediction agreement {report['agreement']:.1%}; UF1 drop {report['uf1_drop']:+.4f}; latency p50 (batch 1): {latency}")
        backbone = report["backbone"]
        console.print(
            f"backbone output ({backbone['clips']} clips): [CLS] cosine {backbone['cls']['cosine_mean']:.4f} (min {backbone['cls']['cosine_min']:.4f}), "
            f"SQNR {backbone['cls']['sqnr_db']:.1f} dB; patch tokens cosine {backbone['patch_tokens']['cosine_mean']:.4f}, SQNR {backbone['patch_tokens']['sqnr_db']:.1f} dB"
        )
        worst = ", ".join(f"{r['tensor']} {r['sqnr_db']:.1f} dB" for r in report.get("most_sensitive_tensors", [])[:3])
        console.print(f"most quantization-sensitive tensors ({report['sensitivity_source']}): {worst}")
        console.print(f"wrote {report['int8_model']} and {out / f'report_{backend}.json'}")
    return report


def demo_command(*, out: Path, target: str, epochs: int, events: int, as_json: bool, backbone_weights: Optional[Path] = None) -> dict[str, Any]:
    """The whole chain on the embedded default: synthetic set -> train mpt-tiny (or, with
    ``backbone_weights``, the config those weights fit) -> bundle -> a synthetic video with known
    micro-expressions streamed through `run` -> events compared with the truth."""
    import io
    import json as json_lib

    from mpt_edge.stream.run import run_stream
    from targets import get_target
    from targets.build import build_bundle
    from train.data.synthetic_video import plan_events, render_stream, write_video
    from train.fit import TrainOptions
    from train.runner import RunSpec

    console = Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    run_dir, bundle_dir, video = out / "train", out / "bundle", out / "demo.avi"
    spec = RunSpec(options=TrainOptions(epochs=epochs))
    if backbone_weights is not None:
        from train.weights import config_for_weights

        spec = RunSpec(model=config_for_weights(backbone_weights), backbone_weights=str(backbone_weights), options=TrainOptions(epochs=epochs))
    console.print(f"[bold]1/4 train {spec.model} on the synthetic set" + (f" (backbone {backbone_weights})" if backbone_weights else ""))
    if not (run_dir / "best.pt").is_file():
        train_command(dataset="synthetic", root=None, skip_invalid=False, synthetic=SyntheticSpec(), spec=spec,
                      out=run_dir, resume=(run_dir / "run.json").is_file(), device_name="auto", as_json=False)
    console.print(f"[bold]2/4 build the {target} bundle")
    if not (bundle_dir / "manifest.json").is_file():
        def pairs():
            from mpt_edge.onnx_meta import read_onnx_meta

            face_size = int(read_onnx_meta(out / "work" / "model.onnx")["motion_config"]["face_size"])
            source = open_dataset("synthetic", None, None)
            return load_pairs(source.records, face_size)

        build_bundle(run_dir / "best.pt", get_target(target), bundle_dir, out / "work", pairs, log=console.print)
    console.print("[bold]3/4 render a synthetic video with known micro-expressions (a drawn face, not a person)")
    truth = plan_events(30 + 30 * events + 30, [k % 3 for k in range(events)])
    write_video(video, render_stream(truth, 30 + 30 * events + 30))
    console.print(f"[bold]4/4 stream it through `mpt-edge run --bundle {bundle_dir} --source {video}`")
    lines = io.StringIO()
    summary = run_stream(bundle_dir, str(video), lines, log=console.print)
    found = [json_lib.loads(line) for line in lines.getvalue().splitlines()]
    names = ["negative", "positive", "surprise"]
    matched, right = 0, 0
    for event in found:
        if not as_json:
            print(json_lib.dumps(event))
    for t in truth:
        hits = [e for e in found if abs(e["frame_apex"] - t.apex) <= 3]
        if hits:
            matched += 1
            right += hits[0]["label"] == names[t.label]
    result = {"bundle": str(bundle_dir), "video": str(video), "true_events": len(truth), "found": matched, "labels_right": right,
              "false_events": len(found) - matched, "stream": summary}
    console.print(f"found {matched}/{len(truth)} micro-expressions (apex within 3 frames), {right} with the right label, "
                  f"{len(found) - matched} false; {summary['fps']} fps, apex->event p50 "
                  f"{(summary['latency_ms_apex_to_event'] or {}).get('p50')} ms")
    console.print(f"live view in a browser: mpt-edge run --bundle {bundle_dir} --source {video} --serve 127.0.0.1:8080  (open http://127.0.0.1:8080/)")
    result["live_view_command"] = f"mpt-edge run --bundle {bundle_dir} --source {video} --serve 127.0.0.1:8080"
    return result
