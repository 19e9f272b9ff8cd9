"""``mpt-edge run`` and ``mpt-edge bench-stream``: a source through the pipeline, events out.

Events are JSON lines on stdout (or ``--events FILE``). ``--show`` draws them on a window;
``--record out.mp4`` writes the annotated video — opt-in only, because faces are biometric data.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

import cv2

from mpt_edge.bundle import load_bundle
from mpt_edge.engines import open_bundle_engine
from mpt_edge.precision import resolve_precision
from mpt_edge.errors import InputError
from mpt_edge.stream.pipeline import STAGES, Pipeline, PipelineConfig
from mpt_edge.stream.recording import RecordingSink
from mpt_edge.stream.sources import OPEN_TIMEOUT_S, CaptureThread, parse_source


def _overlay(frame, event: Optional[dict[str, Any]], box) -> Any:
    image = frame.copy()
    if box:
        x, y, w, h = box
        cv2.rectangle(image, (x, y), (x + w, y + h), (0, 200, 0), 2)
    if event:
        cv2.putText(image, f"{event['label']} {max(event['scores'].values()):.2f}", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
    return image


def run_stream(
    bundle_dir: Path, source: str, events_out: Optional[TextIO] = None, show: bool = False, record: Optional[Path] = None,
    max_frames: Optional[int] = None, config: PipelineConfig = PipelineConfig(), queue_size: int = 8, max_reconnects: int = 5,
    on_event: Optional[Callable[[dict[str, Any]], None]] = None, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    precision: str = "auto", open_timeout_s: float = OPEN_TIMEOUT_S, serve: Optional[str] = None, serve_token: Optional[str] = None,
    server: Optional[str] = None, fps: Optional[float] = None, report: Optional[Path] = None,
) -> dict[str, Any]:
    """Stream ``source`` through the bundle; events as JSON lines on ``events_out``; the summary returned.
    ``report``: an HTML session report written when the stream ends (opt-in: it holds face images)."""
    if report is not None and Path(report).suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--report {report}: the report is an HTML file; name it ….html")
    bundle = load_bundle(bundle_dir)
    engine = open_bundle_engine(bundle, log, precision=resolve_precision(bundle, precision, log), server=server)
    pipeline = Pipeline(bundle, engine, config, log)
    spec = parse_source(source, fps or 0.0)
    live = None
    if serve:
        from mpt_edge.stream.live_view import LiveView, parse_bind

        host, port = parse_bind(serve)
        live = LiveView(host, port, serve_token, log=log).start()
        log(f"live view: {live.display_url}")
    try:
        capture = CaptureThread(spec, queue_size, max_reconnects, open_timeout_s=open_timeout_s).start()
    except BaseException:
        if live is not None:
            live.stop()
        raise
    if live is not None:
        live.source_state = lambda: capture.state
    pipeline.set_fps(capture.fps)  # the spotter's frame counts at the source's rate
    recording: Optional[RecordingSink] = None
    out = events_out or sys.stdout
    started = time.perf_counter()
    shown_event: Optional[dict[str, Any]] = None
    finished = False
    session = _SessionLog() if report is not None else None
    try:
        recording = RecordingSink(record, capture.fps) if record else None  # a bad --record is refused before the first frame
        for frame in capture:
            event = pipeline.process(frame)
            if session is not None:
                session.add(pipeline, event)
            if live is not None:
                tracked = pipeline.tracked_alignment
                live.publish_frame(frame.image, tracked.box if tracked else None, pipeline.spotter.last_energy, pipeline.spotter.last_threshold)
                if event is not None:
                    live.publish_event(event)
                if pipeline.stats.frames % 15 == 0:
                    elapsed = time.perf_counter() - started
                    live.health.update(fps=round(pipeline.stats.frames / elapsed, 1) if elapsed else 0.0, frames=pipeline.stats.frames,
                                       dropped=capture.stats.dropped, events=pipeline.stats.events)
            if event is not None:
                out.write(json.dumps(event) + "\n")
                out.flush()
                shown_event = event
                if on_event:
                    on_event(event)
            if show or record:
                tracked = pipeline.tracked_alignment
                box = tracked.box if tracked else None
                annotated = _overlay(frame.image, shown_event, box)
                if recording is not None:
                    recording.write(annotated)  # frames of a resized source are skipped
                if show:
                    cv2.imshow("mpt-edge", annotated)
                    if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                        break
            if max_frames and pipeline.stats.frames >= max_frames:
                break
        finished = True
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM under the command boundary: finish what is being written
        finished = True
    finally:
        if live is not None:
            live.stop()
        capture.stop()
        if show:
            cv2.destroyAllWindows()
        if recording is not None:
            if finished:
                recording.close()  # a recording that cannot be finished is one error line, nothing left behind
            else:
                recording.abandon_or_keep()
    seconds = time.perf_counter() - started
    stats = pipeline.stats
    latencies = sorted(stats.latencies_ms)
    summary = {
        "source": spec.describe(), "face_detector": pipeline.face_detector, "frames": stats.frames, "events": stats.events,
        "events_by_type": dict(stats.events_by_type), "seconds": round(seconds, 2),
        "fps": round(stats.frames / seconds, 1) if seconds else None, "dropped": capture.stats.dropped, "corrupt_frames": capture.stats.corrupt,
        "reconnects": capture.stats.reconnects, "no_face_frames": stats.no_face_frames, "crop_changes": stats.crop_changes,
        "crop_follows": stats.crop_follows, "lost_face": stats.lost_face, "detections": stats.detections,
        "head_movements_suppressed": stats.head_movements_suppressed,
        "stage_ms_per_frame": {s: round(1000 * stats.stage_seconds[s] / max(1, stats.frames), 3) for s in STAGES},
        "latency_ms_apex_to_event": {"p50": round(statistics.median(latencies), 1), "p99": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1)} if latencies else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "errors": capture.stats.errors,
    }
    if server:  # a remote engine: what the server's outages cost (events spotted but not classified)
        summary["server"] = {"url": server, "model": getattr(engine, "model", None), "outages": getattr(engine, "outages", 0),
                             "failed_requests": getattr(engine, "failures", 0), "unserved_events": stats.unserved_events}
    if capture.stats.errors:
        log("error: " + "; ".join(capture.stats.errors))
    if session is not None and report is not None:
        session.write(report, spec.describe(), capture.fps, bundle_dir, bundle, pipeline, summary)
        log(f"wrote the session report {report}")
    return summary


class _SessionLog:
    """What a session report needs, kept only when --report asks: the spotter's signal per frame and each
    event with its onset/apex crops."""

    def __init__(self) -> None:
        self.energy: list[float] = []
        self.threshold: list[float] = []
        self.events: list[dict[str, Any]] = []
        self.crops: list[tuple[Any, Any]] = []

    def add(self, pipeline: Pipeline, event: Optional[dict[str, Any]]) -> None:
        spotter = pipeline.spotter
        self.energy.append(float(spotter.last_energy) if spotter.last_energy is not None else float("nan"))
        limit = spotter.last_threshold
        self.threshold.append(float(limit) if limit is not None and limit != float("inf") else float("nan"))
        if event is not None and pipeline.last_event_crops is not None:
            self.events.append(event)
            self.crops.append(pipeline.last_event_crops)

    def write(self, path: Path, source: str, fps: float, bundle_dir: Path, bundle: Any, pipeline: Pipeline, summary: dict[str, Any]) -> None:
        import numpy as np

        from mpt_edge.spotting.intervals import Interval
        from mpt_edge.spotting.report import ReportData, write_report

        intervals = [Interval(e["frame_onset"], e["frame_apex"], e["frame_offset"], e["type"], float(e["score"]), e.get("label"), e.get("scores"))
                     for e in self.events]
        settings = {"bundle": str(bundle_dir), "target": bundle.manifest["target"].get("name"), "precision": summary.get("precision", bundle.manifest["precision"]),
                    "classes": ", ".join(bundle.class_names), "face detector": pipeline.face_detector, "magnification α": bundle.motion_config.alpha,
                    "frames": summary["frames"], "processing fps": summary["fps"], "dropped frames": summary["dropped"]}
        write_report(path, ReportData("mpt-edge run: session report", source, fps, summary["frames"], intervals, np.asarray(self.energy),
                                      np.asarray(self.threshold), self.crops, settings, alpha=bundle.motion_config.alpha or 8.0))


def require_file_source(source: str) -> None:
    if parse_source(source).kind != "file":
        raise InputError("bench-stream replays a video file as fast as possible; pass a file, not a live source")
