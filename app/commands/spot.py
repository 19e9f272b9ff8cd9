"""``mpt-edge spot``: micro- and macro-expression intervals in whole videos, offline (:mod:`mpt_edge.spotting.offline`),
or, with ``--dataset``, scored under the MEGC protocol beside the field's baseline (:mod:`train.spot_eval`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from app.commands.common import ME_THRESHOLD, reporting, user_errors
from mpt_edge.errors import InputError
from mpt_edge.faces import FACE_HELP
from mpt_edge.spotting.offline import SpotOptions
from mpt_edge.spotting.spotter import SpotterConfig
from mpt_edge.stream.pipeline import PipelineConfig

if TYPE_CHECKING:
    from rich.progress import Progress

    from mpt_edge.api import Bundle

SPOT = SpotOptions()


@user_errors
def spot(
    source: Path | None = typer.Argument(
        None, help="A video file, a folder of frames (img1.jpg ...), or a folder of such videos."
    ),
    bundle: Path | None = typer.Option(
        None, "--bundle", "-b", help="A bundle: every interval also gets the model's class and class scores."
    ),
    dataset: str | None = typer.Option(
        None,
        "--dataset",
        help="Score a long-video set under the MEGC protocol: casme_sq (CAS(ME)^2), samm_long, casme3_long.",
    ),
    root: Path | None = typer.Option(None, "--root", help="--dataset: the set's folder as distributed."),
    fps: float | None = typer.Option(
        None,
        "--fps",
        min=1.0,
        help="Frame rate: a folder of frames' (default 30), or the real rate of a file whose header is wrong.",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Write the intervals here (.jsonl or .csv); with --dataset a folder (spotting.json, intervals.jsonl).",
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help=(
            "Write an HTML report (timeline, every interval with onset/apex/magnified "
            "thumbnails): holds face images, opt-in."
        ),
    ),
    plots: Path | None = typer.Option(
        None, "--plots", help="--dataset: one PNG per video (signal, spotted and true intervals) into this folder."
    ),
    baseline: bool = typer.Option(
        False,
        "--baseline",
        help="Also spot with the field's baseline (LBP chi-squared feature difference) and print its intervals.",
    ),
    face: str = typer.Option(SPOT.face_detector, "--face", help=FACE_HELP),
    detect_every: int = typer.Option(
        SPOT.detect_every, "--detect-every", min=1, help="Check the tracked face with the detector every N frames."
    ),
    me_threshold: float | None = ME_THRESHOLD,
    as_json: bool = typer.Option(False, "--json", help="Print the summary (and with --dataset the scores) as JSON."),
) -> None:
    """Spot micro-expressions (ME) and macro-expressions (MaE) in whole videos: every frame, as fast as the
    CPU allows."""
    options = SpotOptions(
        fps=fps,
        face_detector=face,
        detect_every=detect_every,
        baseline=baseline,
        keep_crops=report is not None,
        pipeline=PipelineConfig(spotter=SpotterConfig(me_threshold=me_threshold)),
    )
    if dataset is not None and source is not None:
        raise InputError("pass either a SOURCE to spot or --dataset/--root to score a set, not both")
    if dataset is None and source is None:
        raise InputError("pass a video, a folder of frames, or --dataset NAME --root PATH")
    if dataset is None and out is not None and out.suffix.lower() not in (".jsonl", ".csv"):
        raise InputError(f"--out {out}: write intervals as .jsonl or .csv")
    from mpt_edge.api import Bundle

    with contextlib.ExitStack() as stack:
        opened = stack.enter_context(Bundle.open(bundle, log=_print_line)) if bundle is not None else None
        if dataset is not None:
            _print_scores(dataset, root, opened, options, out, plots, as_json)
        else:
            assert source is not None
            _print_spots(source, opened, options, out, report, as_json)


def _print_line(message: str) -> None:
    typer.echo(message, err=True)


def _print_spots(
    source: Path, bundle: Bundle | None, options: SpotOptions, out: Path | None, report: Path | None, as_json: bool
) -> None:
    """Spot every video under ``source`` with a bar per video, then write or print the intervals."""
    from mpt_edge.spotting.offline import rows_of, spot_videos, video_summary, videos_in, write_intervals
    from mpt_edge.spotting.report import write_spot_report

    videos = videos_in(source)
    if report is not None and len(videos) != 1:
        raise InputError(
            f"--report writes one video's report; {source} holds {len(videos)} videos: spot them one at a time"
        )
    with reporting(as_json) as (console, progress):

        def on_video(video: Path) -> Callable[[int], None]:
            return _print_bar(progress, f"spotting {video.name}", None)

        files, engine = (bundle.files, bundle.engine) if bundle is not None else (None, None)
        results = spot_videos(videos, files, engine, options, on_video, console.print)
    if report is not None:
        write_spot_report(report, *results[0], files, options.detect_every)
    rows = rows_of(results, options.baseline)
    if out is not None:
        write_intervals(out, rows)
    elif not as_json:
        for row in rows:
            typer.echo(json.dumps(row))
    for video, result in results:
        summary = video_summary(video, result)
        line = (
            f"{summary['video']}: {summary['frames']} frames at {summary['frames_per_second']} frames/s; "
            f"{summary['intervals']['ME']} ME, {summary['intervals']['MaE']} MaE; {summary['blinks']} blinks "
            f"({summary['blinks_per_minute']} a minute), {summary['talking_seconds']} s talking"
        )
        typer.echo(json.dumps(summary) if as_json else line, err=not as_json)
    if out is not None and not as_json:
        typer.echo(f"wrote {out}" + (f" and {report}" if report else ""), err=True)
    elif report is not None and not as_json:
        typer.echo(f"wrote {report}", err=True)


def _print_bar(progress: Progress | None, description: str, total: int | None) -> Callable[[int], None]:
    """A bar counting one video's frames (nothing with --json)."""
    if progress is None:
        return lambda n: None
    task = progress.add_task(description, total=total, status="frames")
    return lambda n: progress.update(task, completed=n)


def _print_scores(
    dataset: str,
    root: Path | None,
    bundle: Bundle | None,
    options: SpotOptions,
    out: Path | None,
    plots: Path | None,
    as_json: bool,
) -> None:
    """Score a long-video set (:func:`train.api.score_spotting`), then its table."""
    from rich.console import Console
    from rich.table import Table

    from train.api import score_spotting

    with reporting(as_json) as (console, progress):

        def on_video(video: Any) -> Callable[[int], None]:  # a train.data.long_videos.LongVideo
            return _print_bar(progress, f"{video.subject}/{video.name}", video.frames)

        evaluation = score_spotting(
            dataset,
            root,
            options,
            bundle=bundle.files if bundle else None,
            engine=bundle.engine if bundle else None,
            out=out,
            plots=plots,
            on_video=on_video,
            log=console.print,
        )
    if as_json:
        typer.echo(json.dumps(evaluation.as_dict()))
        return
    table = Table(
        title=f"{dataset}: MEGC spotting (IoU >= 0.5), {len(evaluation.videos)} videos, {evaluation.frames} frames"
    )
    contexts = {who: evaluation.by_context(who) for who in ("ours", "baseline")}
    context_names = list(contexts["ours"] or ())
    columns = ("", "ME F1", "MaE F1", "overall F1", "precision", "recall", "TP/FP/FN", "false ME/min")
    for column in (*columns, *(f"F1 {c}" for c in context_names)):
        table.add_column(column, justify="left" if not column else "right")
    for who, name, score in (
        ("ours", "mpt-edge spotter", evaluation.ours),
        ("baseline", f"baseline LBP-chi2 (p {evaluation.baseline_p})", evaluation.baseline),
    ):
        o = score.overall
        split = contexts[who] or {}
        table.add_row(
            name,
            f"{score.by_kind['ME'].f1:.3f}",
            f"{score.by_kind['MaE'].f1:.3f}",
            f"{o.f1:.3f}",
            f"{o.precision:.3f}",
            f"{o.recall:.3f}",
            f"{o.tp}/{o.fp}/{o.fn}",
            f"{evaluation.false_mes_per_minute(who):.1f}",
            *(f"{split[c].f1:.2f} ({split[c].tp}/{split[c].fp}/{split[c].fn})" for c in context_names),
        )
    Console().print(table)
    behaviour = evaluation.behaviour()
    if behaviour is not None:
        blinks = behaviour.blinks
        typer.echo(
            f"blinks recognised: F1 {blinks.f1:.2f} (precision {blinks.precision:.2f}, recall {blinks.recall:.2f}; "
            f"{blinks.tp}/{blinks.fp}/{blinks.fn}); talking: {behaviour.talking_iou:.2f} of the frames' union "
            f"({behaviour.talking_recall:.2f} of the true talking)"
        )
    typer.echo(
        f"{evaluation.frames_per_second:.0f} frames/s; "
        + (f"wrote {out / 'spotting.json'}" if out else "pass --out DIR to keep the scores"),
        err=True,
    )
