"""``spot``: a whole video (a file or a folder of frames) through the live stream's face tracking and
spotter, every frame, as fast as the CPU allows — the same rules as ``run``, without a camera's clock.

With a bundle each interval also gets the model's class and class scores (macro-expressions too: a
screener wants both). With ``baseline`` the field's LBP-chi-squared baseline (:mod:`mpt_edge.spotting.baseline`)
runs on the same registered face crops, so the two are compared on the same faces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.spotting.baseline import DEFAULT_P, BaselineSignal, baseline_signals, combine, lbp_histograms
from mpt_edge.spotting.behaviour import Span, blinks_per_minute, span_of_event, talking_frames
from mpt_edge.spotting.intervals import Interval, interval_of_event
from mpt_edge.stream.pipeline import PipelineConfig
from mpt_edge.stream.session import StreamSession

if TYPE_CHECKING:
    from mpt_edge.bundle import BundleFiles
    from mpt_edge.engines import Engine

BASELINE_FACE = 120  # px: the aligned face the baseline's 6 x 6 LBP blocks (20 px each) are cut from


@dataclass(frozen=True)
class SpotOptions:
    fps: float | None = None  # a folder of frames' rate (default 30); a file's own rate otherwise
    face_detector: str = "auto"
    detect_every: int = 15
    baseline: bool = False
    keep_crops: bool = False  # onset/apex crops of each interval, for a report (nothing is kept otherwise)
    # the rest of the stream's pipeline (its spotter, tracker): what a benchmark compares; the two fields above
    # (detect_every, face_detector) are the command's options and win over the ones here
    pipeline: PipelineConfig = PipelineConfig()


@dataclass(frozen=True)
class SpotResult:
    source: str
    fps: float
    frames: int
    seconds: float  # wall time of the pass
    intervals: tuple[Interval, ...]
    energy: np.ndarray = field(repr=False)  # per frame: the spotter's energy (nan without a face)
    threshold: np.ndarray = field(repr=False)  # per frame: its threshold (nan while warming up)
    no_face_frames: int = 0
    face_detector: str = ""
    baseline: tuple[BaselineSignal, ...] | None = field(default=None, repr=False)
    crops: tuple[tuple[np.ndarray, np.ndarray], ...] = field(default=(), repr=False)  # per interval, with keep_crops
    spans: tuple[Span, ...] = ()  # blinks and talking spells (landmark-aligned crops only)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def baseline_intervals(self, p: float = DEFAULT_P) -> list[Interval]:
        if not self.baseline:
            return []
        me, mae = self.baseline
        return combine(me, mae, p)


def spot_video(
    source: str | Path,
    bundle: BundleFiles | None = None,
    engine: Engine | None = None,
    options: SpotOptions = SpotOptions(),
    on_frame: Callable[[int], None] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> SpotResult:
    """Spot every interval of one video. ``bundle``/``engine``: classify each (None: intervals only)."""
    config = replace(options.pipeline, detect_every=options.detect_every, face_detector=options.face_detector)
    session = StreamSession(bundle, engine, str(source), config, fps=options.fps, queue_size=32, log=log)
    if session.spec.live:
        raise InputError(f"spot reads a whole video: pass a file or a folder of frames, not {session.spec.describe()}")
    pipeline = session.pipeline
    energy: list[float] = []
    threshold: list[float] = []
    histograms: list[np.ndarray] = []
    intervals: list[Interval] = []
    crops: list[tuple[np.ndarray, np.ndarray]] = []
    spans: list[Span] = []
    with session:
        for _, event in session.frames():
            has_face = pipeline.last_frame_had_face
            energy.append(
                float(pipeline.spotter.last_energy) if has_face and pipeline.spotter.last_energy is not None else np.nan
            )
            limit = pipeline.spotter.last_threshold
            threshold.append(float(limit) if has_face and limit is not None and np.isfinite(limit) else np.nan)
            if options.baseline:
                crop = pipeline.last_crop if has_face else None
                if crop is not None:
                    gray = cv2.cvtColor(
                        cv2.resize(crop, (BASELINE_FACE, BASELINE_FACE), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2GRAY,
                    )
                    histograms.append(lbp_histograms(gray))
                else:
                    histograms.append(histograms[-1] if histograms else np.zeros((36, 59), np.float32))
            if event is not None and not event.is_expression:
                spans.append(span_of_event(event))
            elif event is not None:
                intervals.append(interval_of_event(event))
                if options.keep_crops and pipeline.last_event_crops is not None:
                    crops.append(pipeline.last_event_crops)
            if on_frame:
                on_frame(pipeline.stats.frames)
    errors = session.capture.stats.errors if session.capture is not None else []
    if errors:
        raise InputError("; ".join(errors))
    signals = tuple(baseline_signals(histograms, session.fps)) if options.baseline and histograms else None
    return SpotResult(
        session.spec.describe(),
        session.fps,
        pipeline.stats.frames,
        session.seconds,
        tuple(intervals),
        np.asarray(energy),
        np.asarray(threshold),
        pipeline.stats.no_face_frames,
        pipeline.face_detector,
        signals,
        tuple(crops),
        tuple(spans),
    )


def spot_videos(
    videos: Sequence[Path],
    bundle: BundleFiles | None = None,
    engine: Engine | None = None,
    options: SpotOptions = SpotOptions(),
    on_video: Callable[[Path], Callable[[int], None]] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[tuple[Path, SpotResult]]:
    """Each video (e.g. what :func:`videos_in` finds under a folder), spotted one after another."""
    results = []
    for video in videos:
        results.append((video, spot_video(video, bundle, engine, options, on_video(video) if on_video else None, log)))
    return results


def rows_of(results: list[tuple[Path, SpotResult]], baseline: bool) -> list[dict[str, Any]]:
    """The rows ``spot`` writes: ours, then (with ``baseline``) the baseline's, per video."""
    rows = []
    for video, result in results:
        rows += interval_rows(result, str(video))
        if baseline:
            rows += [
                {**row, "source": "baseline"}
                for row in interval_rows(
                    replace(result, intervals=tuple(result.baseline_intervals()), spans=()), str(video)
                )
            ]
    return rows


def video_summary(video: Path, result: SpotResult) -> dict[str, Any]:
    """One video's line of ``spot --json``."""
    return {
        "video": str(video),
        "frames": result.frames,
        "fps_source": result.fps,
        "frames_per_second": round(result.frames_per_second, 1),
        "intervals": {k: sum(i.kind == k for i in result.intervals) for k in ("ME", "MaE")},
        "blinks": sum(s.kind == "blink" for s in result.spans),
        "blinks_per_minute": round(blinks_per_minute(result.spans, result.frames, result.fps), 1),
        "talking_seconds": round(talking_frames(result.spans) / result.fps, 1) if result.fps else 0.0,
        "no_face_frames": result.no_face_frames,
    }


def write_intervals(out: Path, rows: list[dict[str, Any]]) -> None:
    """The rows as JSON lines (.jsonl) or CSV (.csv), atomically."""
    import csv
    import io
    import json

    from mpt_edge.io import atomic_write_bytes, spreadsheet_safe

    if out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        columns = [
            "video",
            "source",
            "type",
            "onset",
            "apex",
            "offset",
            "t_onset",
            "t_apex",
            "t_offset",
            "score",
            "label",
        ]
        writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: spreadsheet_safe(value) for key, value in {"source": "ours", **row}.items()})
        atomic_write_bytes(out, buffer.getvalue().encode())
    else:
        atomic_write_bytes(out, "".join(json.dumps(row) + "\n" for row in rows).encode())


def interval_rows(result: SpotResult, video: str) -> list[dict[str, Any]]:
    """One JSON-ready row per interval, blink and talking spell, in the order they began: frames and
    times, type, score, class."""
    rows = []
    everything: tuple[Interval | Span, ...] = (*result.intervals, *result.spans)
    for found in everything:
        row = {
            "video": video,
            "type": found.kind,
            "onset": found.onset,
            "apex": found.apex,
            "offset": found.offset,
            "t_onset": round(found.onset / result.fps, 4),
            "t_apex": round(found.apex / result.fps, 4),
            "t_offset": round(found.offset / result.fps, 4),
            "score": round(found.score, 3),
        }
        if isinstance(found, Interval) and found.label is not None:
            row["label"] = found.label
            row["scores"] = dict(found.scores or {})
        rows.append(row)
    return sorted(rows, key=lambda row: (row["onset"], row["offset"]))


def videos_in(path: Path) -> list[Path]:
    """``path`` itself when it is a video (a file, or a folder of numbered frames), else the videos inside it."""
    from mpt_edge.stream.frame_folder import SUFFIXES

    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path} does not exist; pass a video file, a folder of frames, or a folder of videos")
    if any(p.suffix.lower() in SUFFIXES for p in path.iterdir()):
        return [path]
    videos = [
        p
        for p in sorted(path.rglob("*"))
        if (p.is_file() and p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv"))
        or (p.is_dir() and any(q.suffix.lower() in SUFFIXES for q in p.iterdir()))
    ]
    if not videos:
        raise InputError(f"{path} holds no video file nor folder of frames")
    return videos
