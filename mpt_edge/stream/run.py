"""``mpt-edge run`` and ``mpt-edge bench-stream``: a source through the pipeline, events out.

Events are JSON lines on stdout (or ``--events FILE``). ``--show`` draws them on a window;
``--record out.mp4`` writes the annotated video — opt-in only, because faces are biometric data.
The loop is :class:`~mpt_edge.stream.session.StreamSession`'s; what each option adds is a sink
(:mod:`mpt_edge.stream.sinks`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mpt_edge.engines import open_bundle
from mpt_edge.errors import InputError
from mpt_edge.stream.events import Event
from mpt_edge.stream.pipeline import PipelineConfig
from mpt_edge.stream.session import StreamSession
from mpt_edge.stream.sinks import Callback, EventLines, LiveViewSink, Recording, SessionReport, Sink, Window
from mpt_edge.stream.sources import OPEN_TIMEOUT_S, parse_source
from mpt_edge.stream.summary import StreamSummary


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass(frozen=True)
class RunOptions:
    """What ``mpt-edge run`` does besides writing events; every output but the events is opt-in."""

    show: bool = False  # a window with the face box and the last event
    record: Path | None = None  # the annotated video (.mp4): faces are biometric data
    max_frames: int | None = None
    pipeline: PipelineConfig = PipelineConfig()
    precision: str = "auto"  # int8 / fp32 where the bundle carries both (auto: the faster here)
    open_timeout_s: float = OPEN_TIMEOUT_S
    serve: str | None = None  # HOST:PORT of the live view
    serve_token: str | None = None
    server: str | None = None  # a Triton server running the model
    fps: float | None = None  # a folder of frames' rate
    report: Path | None = None  # an HTML session report (.html): holds face images
    queue_size: int = 8
    max_reconnects: int = 5


def run_stream(
    bundle_dir: Path,
    source: str,
    events_out: IO[str] | None = None,
    options: RunOptions = RunOptions(),
    *,
    on_event: Callable[[Event], None] | None = None,
    log: Callable[[str], None] = _stderr,
) -> StreamSummary:
    """Stream ``source`` through the bundle; events as JSON lines on ``events_out`` (default stdout), each
    also to ``on_event``; the summary returned."""
    report = options.report
    if report is not None and Path(report).suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--report {report}: the report is an HTML file; name it ….html")
    ready = open_bundle(bundle_dir, options.precision, options.server, log)
    bundle, engine = ready.files, ready.engine
    with contextlib.ExitStack() as stack:
        stack.enter_context(engine)
        session = StreamSession(
            bundle,
            engine,
            source,
            options.pipeline,
            fps=options.fps,
            queue_size=options.queue_size,
            max_reconnects=options.max_reconnects,
            open_timeout_s=options.open_timeout_s,
            log=log,
        )
        live = None
        if options.serve:  # started before the source opens: a port in use is said before a camera is taken
            from mpt_edge.stream.live_view import LiveView, parse_bind

            host, port = parse_bind(options.serve)
            live = LiveView(host, port, options.serve_token, log=log).start()
            stack.callback(live.stop)
            log(f"live view: {live.display_url}")
        stack.enter_context(session)
        sinks: list[Sink] = [EventLines(events_out or sys.stdout)]
        if on_event is not None:
            sinks.append(Callback(on_event))
        if live is not None:
            sinks.append(LiveViewSink(live, session))
        if options.show:
            sinks.append(Window())
        if options.record:
            sinks.append(Recording(options.record, session.fps))
        session_report = SessionReport(report) if report is not None else None
        if session_report is not None:
            sinks.append(session_report)
        with contextlib.ExitStack() as opened:
            active = [opened.enter_context(sink) for sink in sinks]
            try:
                for frame, event in session.frames(options.max_frames):
                    if not all([sink.write(frame, event, session) for sink in active]):
                        break
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM under the command boundary: finish what is being written
                pass
    summary = session.summary(options.server)
    if summary.errors:
        log("error: " + "; ".join(summary.errors))
    if session_report is not None:
        session_report.write_report(session, bundle_dir, summary)
        log(f"wrote the session report {report}")
    return summary


def require_file_source(source: str) -> None:
    if parse_source(source).kind != "file":
        raise InputError("bench-stream replays a video file as fast as possible; pass a file, not a live source")
