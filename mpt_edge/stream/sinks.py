"""Where a stream's frames and events go, one context manager each: ``write(frame, event, session)`` per
frame (False: stop the stream), and leaving the ``with`` block finishes what the sink wrote. ``mpt-edge
run`` picks them from its options; every one but the event lines is opt-in."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import cv2
import numpy as np

from mpt_edge.spotting.behaviour import Span, span_of_event
from mpt_edge.stream.recording import RecordingSink
from mpt_edge.stream.sources import Frame

if TYPE_CHECKING:
    from mpt_edge.stream.events import Event
    from mpt_edge.stream.live_view import LiveView
    from mpt_edge.stream.session import StreamSession
    from mpt_edge.stream.summary import StreamSummary


class Sink:
    """The base of every sink: nothing to open, nothing to finish."""

    def write(self, frame: Frame, event: Event | None, session: StreamSession) -> bool:
        return True

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


class EventLines(Sink):
    """Each event as one JSON line (stdout or ``--events FILE``), flushed at once."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, frame: Frame, event: Event | None, session: StreamSession) -> bool:
        if event is not None:
            self.out.write(json.dumps(event.as_dict()) + "\n")
            self.out.flush()
        return True


class Callback(Sink):
    """A Python function called with each event (the Triton tests restart the server from one)."""

    def __init__(self, on_event: Any) -> None:
        self.on_event = on_event

    def write(self, frame: Frame, event: Event | None, session: StreamSession) -> bool:
        if event is not None:
            self.on_event(event)
        return True


def annotate(image: np.ndarray, event: Event | None, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """The frame with the face box and the last event's class: what ``--show`` and ``--record`` draw."""
    annotated = image.copy()
    if box:
        x, y, w, h = box
        cv2.rectangle(annotated, (x, y), (x + w, y + h), (0, 200, 0), 2)
    if event and event.label is not None and event.scores:
        text = f"{event.label} {max(event.scores.values()):.2f}"
        cv2.putText(annotated, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)
    return np.asarray(annotated)


class _Annotating(Sink):
    """Keeps the last event so that it stays drawn on the frames after it."""

    shown: Event | None = None

    def annotated(self, frame: Frame, event: Event | None, session: StreamSession) -> np.ndarray:
        if event is not None and event.is_expression:  # a blink or talking spell does not hide the class
            self.shown = event
        tracked = session.pipeline.tracked_alignment
        return annotate(frame.image, self.shown, tracked.box if tracked else None)


class Window(_Annotating):
    """``--show``: the annotated frames in a window; Esc or q stops the stream."""

    def write(self, frame: Frame, event: Event | None, session: StreamSession) -> bool:
        cv2.imshow("mpt-edge", self.annotated(frame, event, session))
        return (cv2.waitKey(1) & 0xFF) not in (27, ord("q"))

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        cv2.destroyAllWindows()


class Recording(_Annotating):
    """``--record out.mp4``: the annotated video, playable or not left at all (:class:`RecordingSink`)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.sink = RecordingSink(path, fps)  # a bad --record is refused before the first frame

    def write(self, frame: Frame, event: Event | None, session: StreamSession) -> bool:
        self.sink.write(self.annotated(frame, event, session))  # frames of a resized source are skipped
        return True

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.sink.__exit__(kind, error, trace)


class LiveViewSink(Sink):
    """``--serve``: frames, the spotter's signal, events and health to the live view's clients (the view
    itself is started before the source opens and stopped by its opener)."""

    def __init__(self, live: LiveView, session: StreamSession) -> None:
        self.live = live
        capture = session.capture
        if capture is not None:
            live.source_state = lambda: capture.state

    def write(self, frame: Frame, event: Event | None, session: StreamSession) -> bool:
        pipeline, live = session.pipeline, self.live
        tracked = pipeline.tracked_alignment
        live.publish_frame(
            frame.image, tracked.box if tracked else None, pipeline.spotter.last_energy, pipeline.spotter.last_threshold
        )
        if event is not None:
            live.publish_event(event.as_dict())
        if pipeline.stats.frames % 15 == 0:
            elapsed = session.elapsed()
            dropped = session.capture.stats.dropped if session.capture is not None else 0
            live.health.update(
                fps=round(pipeline.stats.frames / elapsed, 1) if elapsed else 0.0,
                frames=pipeline.stats.frames,
                dropped=dropped,
                events=pipeline.stats.events,
            )
        return True


class SessionReport(Sink):
    """``--report``: what the HTML session report needs, kept only when asked (it holds face images): the
    spotter's signal per frame and each event with its onset/apex crops; written by :meth:`write_report`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.energy: list[float] = []
        self.threshold: list[float] = []
        self.events: list[Event] = []
        self.crops: list[tuple[Any, Any]] = []
        self.spans: list[Span] = []

    def write(self, frame: Frame, event: Event | None, session: StreamSession) -> bool:
        pipeline = session.pipeline
        spotter = pipeline.spotter
        self.energy.append(float(spotter.last_energy) if spotter.last_energy is not None else float("nan"))
        limit = spotter.last_threshold
        self.threshold.append(float(limit) if limit is not None and limit != float("inf") else float("nan"))
        if event is not None and not event.is_expression:
            self.spans.append(span_of_event(event))
        elif event is not None and pipeline.last_event_crops is not None:
            self.events.append(event)
            self.crops.append(pipeline.last_event_crops)
        return True

    def write_report(self, session: StreamSession, bundle_dir: Path, summary: StreamSummary) -> None:
        from mpt_edge.spotting.intervals import interval_of_event
        from mpt_edge.spotting.report import ReportData, thumbnail_alpha, write_report

        bundle, pipeline = session.bundle, session.pipeline
        assert bundle is not None  # run always streams through a bundle
        intervals = [interval_of_event(e) for e in self.events]
        settings = {
            "bundle": str(bundle_dir),
            "target": bundle.target_name,
            "precision": bundle.precision,
            "classes": ", ".join(bundle.class_names),
            "face detector": pipeline.face_detector,
            "magnification α": bundle.motion_config.alpha,
            "frames": summary.frames,
            "processing fps": summary.fps,
            "dropped frames": summary.dropped,
        }
        write_report(
            self.path,
            ReportData(
                "mpt-edge run: session report",
                session.spec.describe(),
                session.fps,
                summary.frames,
                intervals,
                np.asarray(self.energy),
                np.asarray(self.threshold),
                self.crops,
                settings,
                alpha=thumbnail_alpha(bundle),
                spans=tuple(self.spans),
            ),
        )
