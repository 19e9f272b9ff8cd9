"""The device side as Python calls: open a bundle, classify a pair of frames, stream a camera or a video,
spot a whole recording. The same code as ``mpt-edge run`` and ``mpt-edge spot``, so the same results.

.. code-block:: python

    import mpt_edge

    with mpt_edge.Bundle.open("bundle") as bundle:
        stream = bundle.stream("session.mp4")
        for event in stream:
            print(event.type, event.frame_apex, event.label)
        print(stream.summary.fps, "frames/s")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from mpt_edge.classify import Prediction, feeds_of, predict_feeds
from mpt_edge.progress import quiet
from mpt_edge.stream.events import Event
from mpt_edge.stream.pipeline import PipelineConfig
from mpt_edge.stream.sources import OPEN_TIMEOUT_S
from mpt_edge.stream.summary import StreamSummary

if TYPE_CHECKING:
    from mpt_edge import bundle as bundle_files
    from mpt_edge.engines import Engine
    from mpt_edge.faces.align import FaceAligner
    from mpt_edge.spotting.offline import SpotResult
    from mpt_edge.stream.session import StreamSession

PathLike = str | Path

__all__ = ["Bundle", "Event", "EventStream", "Prediction", "StreamSummary"]


class EventStream:
    """The events of one source, in order, as they are spotted; :attr:`summary` once it has ended.
    Leaving the loop early (``break``) or the ``with`` block stops the source."""

    def __init__(self, session: StreamSession, max_frames: int | None) -> None:
        self._session, self._max_frames = session, max_frames
        self._summary: StreamSummary | None = None
        self._stack = contextlib.ExitStack()

    def __iter__(self) -> Iterator[Event]:
        with self._stack:
            self._stack.enter_context(self._session)
            for _, event in self._session.frames(self._max_frames):
                if event is not None:
                    yield event
        self._summary = self._session.summary()

    @property
    def summary(self) -> StreamSummary:
        if self._summary is None:
            if self._session.capture is None:
                raise RuntimeError("the stream has not run yet: iterate it first")
            self._summary = self._session.summary()
        return self._summary

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class Bundle:
    """An opened bundle (``mpt-edge build``): its verified files and its engine. Close it (or use ``with``)
    to free the engine."""

    def __init__(self, files: bundle_files.BundleFiles, engine: Engine, precision: str) -> None:
        self.files, self.engine, self.precision = files, engine, precision
        self._aligners: dict[str, FaceAligner] = {}  # per detector: its models load once, not per predict

    def _aligner(self, face: str) -> FaceAligner:
        if face not in self._aligners:
            from mpt_edge.faces import resolve_detector
            from mpt_edge.faces.align import FaceAligner

            detector = resolve_detector(face, self.files.face_detector)
            self._aligners[face] = FaceAligner(self.files.motion_config.face_size, detector)
        return self._aligners[face]

    @classmethod
    def open(
        cls, path: PathLike, *, precision: str = "auto", server: str | None = None, log: Callable[[str], None] = quiet
    ) -> Bundle:
        """Load and verify the bundle at ``path`` (every file against its manifest) and open its engine:
        ``precision`` auto / int8 / fp32 where it carries two; ``server``: a Triton server (grpc://HOST:8001)."""
        from mpt_edge.engines import open_bundle

        opened = open_bundle(Path(path), precision, server, log)
        return cls(opened.files, opened.engine, opened.precision)

    @property
    def path(self) -> Path:
        return self.files.root

    @property
    def class_names(self) -> list[str]:
        return self.files.class_names

    @property
    def target(self) -> str:
        return self.files.target_name

    def predict(self, onset: np.ndarray, apex: np.ndarray, *, aligned: bool = False, face: str = "auto") -> Prediction:
        """The class of the motion from ``onset`` to ``apex`` (two BGR frames of one face). Unless
        ``aligned`` (crops already aligned as the bundle's faces were), the face is found on the onset frame
        and both frames are cropped with that one transform."""
        if not aligned:
            onset, apex, _ = self._aligner(face).align_pair(onset, apex)
        feeds = feeds_of(self.files.motion_config, list(self.files.inputs), onset, apex)
        return predict_feeds(self.engine, feeds, self.class_names)

    def stream(
        self,
        source: str | int | Path,
        *,
        max_frames: int | None = None,
        fps: float | None = None,
        face: str = "auto",
        detect_every: int = PipelineConfig.detect_every,
        open_timeout_s: float = OPEN_TIMEOUT_S,
        me_threshold: float | None = None,
        log: Callable[[str], None] = quiet,
    ) -> EventStream:
        """The events of a camera (index), a video file, a folder of frames, an rtsp:// URL or a GStreamer
        pipeline, through the same pipeline as ``mpt-edge run``. Nothing is recorded or sent. ``me_threshold``:
        as ``run --me-threshold`` (None: the ME scorer's own)."""
        from mpt_edge.spotting.spotter import SpotterConfig
        from mpt_edge.stream.session import StreamSession

        config = PipelineConfig(
            detect_every=detect_every, face_detector=face, spotter=SpotterConfig(me_threshold=me_threshold)
        )
        session = StreamSession(
            self.files, self.engine, str(source), config, fps=fps, open_timeout_s=open_timeout_s, log=log
        )
        return EventStream(session, max_frames)

    def spot(
        self,
        video: PathLike,
        *,
        fps: float | None = None,
        face: str = "auto",
        baseline: bool = False,
        me_threshold: float | None = None,
    ) -> SpotResult:
        """Every ME/MaE interval of a whole video (every frame, as ``mpt-edge spot``), each with its class."""
        from mpt_edge.spotting.offline import SpotOptions, spot_video
        from mpt_edge.spotting.spotter import SpotterConfig

        pipeline = PipelineConfig(spotter=SpotterConfig(me_threshold=me_threshold))
        options = SpotOptions(fps=fps, face_detector=face, baseline=baseline, pipeline=pipeline)
        return spot_video(video, self.files, self.engine, options)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
