"""``mpt-edge spot``: micro- and macro-expression intervals in whole videos, offline (:mod:`mpt_edge.spotting.offline`),
or, with ``--dataset``, scored under the MEGC protocol beside the field's baseline (:mod:`train.spot_eval`)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from mpt_edge.commands.common import user_errors
from mpt_edge.errors import InputError
from mpt_edge.faces import FACE_HELP


@user_errors
def spot(
    source: Optional[Path] = typer.Argument(None, help="A video file, a folder of frames (img1.jpg ...), or a folder of such videos."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", "-b", help="A bundle: every interval also gets the model's class and class scores."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Score a long-video set under the MEGC protocol: casme_sq (CAS(ME)^2), samm_long, casme3_long."),
    root: Optional[Path] = typer.Option(None, "--root", help="--dataset: the set's folder as distributed."),
    fps: Optional[float] = typer.Option(None, "--fps", min=1.0, help="Frame rate of a folder of frames (default 30; a video file has its own)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the intervals here (.jsonl or .csv); with --dataset a folder (spotting.json, intervals.jsonl)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML report (timeline, every interval with onset/apex/magnified thumbnails): holds face images, opt-in."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="--dataset: one PNG per video (signal, spotted and true intervals) into this folder."),
    baseline: bool = typer.Option(False, "--baseline", help="Also spot with the field's baseline (LBP chi-squared feature difference) and print its intervals."),
    face: str = typer.Option("auto", "--face", help=FACE_HELP),
    detect_every: int = typer.Option(15, "--detect-every", min=1, help="Check the tracked face with the detector every N frames."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary (and with --dataset the scores) as JSON."),
) -> None:
    """Spot micro-expressions (ME) and macro-expressions (MaE) in whole videos: every frame, as fast as the CPU allows."""
    from mpt_edge.spotting.offline import SpotOptions

    options = SpotOptions(fps=fps, face_detector=face, detect_every=detect_every, baseline=baseline, keep_crops=report is not None)
    if dataset is not None:
        if source is not None:
            raise InputError("pass either a SOURCE to spot or --dataset/--root to score a set, not both")
        _score_set(dataset, root, bundle, options, out, plots, as_json)
        return
    if source is None:
        raise InputError("pass a video, a folder of frames, or --dataset NAME --root PATH")
    if out is not None and out.suffix.lower() not in (".jsonl", ".csv"):
        raise InputError(f"--out {out}: write intervals as .jsonl or .csv")
    _spot_videos(source, bundle, options, out, report, as_json)


def _open(bundle: Optional[Path]):
    if bundle is None:
        return None, None
    from mpt_edge.bundle import load_bundle
    from mpt_edge.engines import open_bundle_engine
    from mpt_edge.precision import resolve_precision

    loaded = load_bundle(bundle)
    return loaded, open_bundle_engine(loaded, lambda m: typer.echo(m, err=True), precision=resolve_precision(loaded, "auto", lambda m: typer.echo(m, err=True)))


def _spot_videos(source: Path, bundle_path: Optional[Path], options, out: Optional[Path], report: Optional[Path], as_json: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from mpt_edge.spotting.offline import interval_rows, spot_video, videos_in

    videos = videos_in(source)
    if report is not None and len(videos) != 1:
        raise InputError(f"--report writes one video's report; {source} holds {len(videos)} videos: spot them one at a time")
    bundle, engine = _open(bundle_path)
    console = Console(stderr=True, quiet=as_json or not sys.stderr.isatty())
    rows, summaries = [], []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"), TimeRemainingColumn(), console=console) as progress:
        for video in videos:
            task = progress.add_task(f"spotting {video.name}", total=None)
            result = spot_video(video, bundle, engine, options, lambda n, t=task: progress.update(t, completed=n), lambda m: console.print(m))
            rows += interval_rows(result, str(video))
            if options.baseline:
                rows += [{**row, "source": "baseline"} for row in interval_rows(_with(result, result.baseline_intervals()), str(video))]
            summaries.append({"video": str(video), "frames": result.frames, "fps_source": result.fps, "frames_per_second": round(result.frames_per_second, 1),
                              "intervals": {k: sum(i.kind == k for i in result.intervals) for k in ("ME", "MaE")}, "no_face_frames": result.no_face_frames})
            if report is not None:
                from mpt_edge.spotting.report import report_of, write_report

                settings = {"bundle": str(bundle_path) if bundle_path else "none (intervals only)", "face detector": result.face_detector,
                            "frame rate": result.fps, "detect every": options.detect_every}
                write_report(report, report_of(result, f"mpt-edge spot: {video.name}", settings,
                                               alpha=bundle.motion_config.alpha if bundle is not None and bundle.motion_config.alpha else None))
    if out is not None:
        _write_rows(out, rows)
    elif not as_json:
        for row in rows:
            typer.echo(json.dumps(row))
    for summary in summaries:
        line = (f"{summary['video']}: {summary['frames']} frames at {summary['frames_per_second']} frames/s; "
                f"{summary['intervals']['ME']} ME, {summary['intervals']['MaE']} MaE")
        typer.echo(json.dumps(summary) if as_json else line, err=not as_json)
    if out is not None and not as_json:
        typer.echo(f"wrote {out}" + (f" and {report}" if report else ""), err=True)
    elif report is not None and not as_json:
        typer.echo(f"wrote {report}", err=True)


def _with(result, intervals):
    from dataclasses import replace

    return replace(result, intervals=tuple(intervals))


def _write_rows(out: Path, rows: list[dict]) -> None:
    from mpt_edge.io import atomic_write_bytes

    if out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        columns = ["video", "source", "type", "onset", "apex", "offset", "t_onset", "t_apex", "t_offset", "score", "label"]
        writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({"source": "ours", **row})
        atomic_write_bytes(out, buffer.getvalue().encode())
    else:
        atomic_write_bytes(out, "".join(json.dumps(row) + "\n" for row in rows).encode())


def _score_set(dataset: str, root: Optional[Path], bundle_path: Optional[Path], options, out: Optional[Path], plots: Optional[Path], as_json: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn
    from rich.table import Table

    from train.spot_eval import evaluate_spotting, write_evaluation

    bundle, engine = _open(bundle_path)
    console = Console(stderr=True, quiet=as_json or not sys.stderr.isatty())
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"), console=console) as progress:
        def on_video(video):
            task = progress.add_task(f"{video.subject}/{video.name}", total=video.frames)
            return lambda n: progress.update(task, completed=n)

        evaluation = evaluate_spotting(dataset, root, bundle, engine, options, plots, on_video, lambda m: console.print(m))  # type: ignore[arg-type]
    if out is not None:
        write_evaluation(out, evaluation)
    if as_json:
        typer.echo(json.dumps(evaluation.as_dict()))
        return
    table = Table(title=f"{dataset}: MEGC spotting (IoU >= 0.5), {len(evaluation.videos)} videos, {evaluation.frames} frames")
    for column in ("", "ME F1", "MaE F1", "overall F1", "precision", "recall", "TP/FP/FN"):
        table.add_column(column, justify="left" if not column else "right")
    for name, score in (("mpt-edge spotter", evaluation.ours), (f"baseline LBP-chi2 (p {evaluation.baseline_p})", evaluation.baseline)):
        o = score.overall
        table.add_row(name, f"{score.by_kind['ME'].f1:.3f}", f"{score.by_kind['MaE'].f1:.3f}", f"{o.f1:.3f}", f"{o.precision:.3f}", f"{o.recall:.3f}",
                      f"{o.tp}/{o.fp}/{o.fn}")
    Console().print(table)
    typer.echo(f"{evaluation.frames_per_second:.0f} frames/s; " + (f"wrote {out / 'spotting.json'}" if out else "pass --out DIR to keep the scores"), err=True)
