"""A source through an opened bundle's pipeline: the one loop every consumer of a stream shares.

Split the way supervision splits video work: the *source* is an iterator of frames
(:class:`~mpt_edge.stream.sources.CaptureThread`), the *sinks* are context managers that receive each
frame and event (:mod:`mpt_edge.stream.sinks`), and :meth:`StreamSession.frames` is the loop that joins
them. ``mpt-edge run`` attaches its sinks (event lines, window, recording, live view, report);
``mpt_edge.Bundle.stream`` yields the events to Python code; both therefore give the same events.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from mpt_edge.stream.events import Event
from mpt_edge.stream.pipeline import STAGES, Pipeline, PipelineConfig
from mpt_edge.stream.sources import OPEN_TIMEOUT_S, CaptureThread, Frame, SourceSpec, parse_source
from mpt_edge.stream.summary import Latency, ServerSummary, StreamSummary

if TYPE_CHECKING:
    from mpt_edge.bundle import BundleFiles
    from mpt_edge.engines import Engine


class StreamSession:
    """Open with ``with``: the pipeline is built first (the face models load before any frame is taken from
    a live camera), then the capture starts; leaving the block stops it."""

    def __init__(
        self,
        bundle: BundleFiles | None,
        engine: Engine | None,
        source: str,
        config: PipelineConfig = PipelineConfig(),
        *,
        fps: float | None = None,
        queue_size: int = 8,
        max_reconnects: int = 5,
        open_timeout_s: float = OPEN_TIMEOUT_S,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.bundle, self.engine = bundle, engine
        self.pipeline = Pipeline(bundle, engine, config, log)
        self.spec: SourceSpec = parse_source(source, fps or 0.0)
        self.queue_size, self.max_reconnects, self.open_timeout_s = queue_size, max_reconnects, open_timeout_s
        self.capture: CaptureThread | None = None
        self.started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> StreamSession:
        self.capture = CaptureThread(
            self.spec, self.queue_size, self.max_reconnects, open_timeout_s=self.open_timeout_s
        ).start()
        self.pipeline.set_fps(self.capture.fps)  # the spotter's frame counts at the source's rate
        self.started = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.seconds = time.perf_counter() - self.started
        if self.capture is not None:
            self.capture.stop()

    @property
    def fps(self) -> float:
        """The source's frame rate (30 where it says none)."""
        return self.capture.fps if self.capture is not None else 30.0

    def frames(self, max_frames: int | None = None) -> Iterator[tuple[Frame, Event | None]]:
        """Every frame with the event it completed (or None), until the source ends or ``max_frames``."""
        assert self.capture is not None, "enter the session (with ...) before iterating it"
        last: Frame | None = None
        for frame in self.capture:
            last = frame
            yield frame, self.pipeline.process(frame)
            if max_frames and self.pipeline.stats.frames >= max_frames:
                break
        for event in self.pipeline.flush(last):  # a blink or talking spell the end cut short
            assert last is not None
            yield last, event

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def summary(self, server: str | None = None) -> StreamSummary:
        """How the stream went (``mpt-edge run --json`` prints :meth:`StreamSummary.as_dict`)."""
        assert self.capture is not None
        seconds = self.seconds or self.elapsed()
        stats, capture = self.pipeline.stats, self.capture.stats
        latencies = sorted(stats.latencies_ms)
        latency = None
        if latencies:
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            latency = Latency(round(statistics.median(latencies), 1), round(p99, 1))
        minutes = stats.frames / self.fps / 60 if self.fps else 0.0
        remote = None
        if server:  # a remote engine: what the server's outages cost (events spotted but not classified)
            engine = self.engine
            model = getattr(engine, "model", None)
            remote = ServerSummary(
                server,
                None if model is None else str(model),
                int(getattr(engine, "outages", 0)),
                int(getattr(engine, "failures", 0)),
                stats.unserved_events,
            )
        return StreamSummary(
            source=self.spec.describe(),
            face_detector=self.pipeline.face_detector,
            frames=stats.frames,
            events=stats.events,
            events_by_type=dict(stats.events_by_type),
            seconds=round(seconds, 2),
            fps=round(stats.frames / seconds, 1) if seconds else None,
            dropped=capture.dropped,
            corrupt_frames=capture.corrupt,
            reconnects=capture.reconnects,
            no_face_frames=stats.no_face_frames,
            crop_changes=stats.crop_changes,
            crop_follows=stats.crop_follows,
            lost_face=stats.lost_face,
            detections=stats.detections,
            head_movements_suppressed=stats.head_movements_suppressed,
            me_candidates_dropped=stats.candidates_dropped,
            blinks=stats.events_by_type["blink"],
            blinks_per_minute=round(stats.events_by_type["blink"] / minutes, 1) if minutes else None,
            talking_spells=stats.events_by_type["talking"],
            talking_share=round(stats.talking_frames / stats.frames, 3) if stats.frames else None,
            events_explained=dict(self.pipeline.spotter.explained),
            stage_ms_per_frame={s: round(1000 * stats.stage_seconds[s] / max(1, stats.frames), 3) for s in STAGES},
            latency_ms_apex_to_event=latency,
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            errors=tuple(capture.errors),
            server=remote,
        )
