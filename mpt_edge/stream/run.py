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
    server: Optional[str] = None,
) -> dict[str, Any]:
    bundle = load_bundle(bundle_dir)
    engine = open_bundle_engine(bundle, log, precision=resolve_precision(bundle, precision, log), server=server)
    pipeline = Pipeline(bundle, engine, config, log)
    spec = parse_source(source)
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
    recording: Optional[RecordingSink] = None
    out = events_out or sys.stdout
    started = time.perf_counter()
    shown_event: Optional[dict[str, Any]] = None
    finished = False
    try:
        recording = RecordingSink(record, capture.fps) if record else None  # a bad --record is refused before the first frame
        for frame in capture:
            event = pipeline.process(frame)
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
        "source": spec.describe(), "face_detector": pipeline.face_detector, "frames": stats.frames, "events": stats.events, "seconds": round(seconds, 2),
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
    return summary


def require_file_source(source: str) -> None:
    if parse_source(source).kind != "file":
        raise InputError("bench-stream replays a video file as fast as possible; pass a file, not a live source")
