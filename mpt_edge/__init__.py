"""mpt-edge: Motion Prompt Tuning micro-expression recognition, from workstation to edge device.

This package is the device side: it must import without torch (docs/design.md, "Dependency direction").
The public API (:mod:`mpt_edge.api`) is reached from here lazily, so ``import mpt_edge`` stays cheap::

    with mpt_edge.Bundle.open("bundle") as bundle:
        for event in bundle.stream(0):
            ...

Compatibility (0.2.0): bundles of manifest schema 1, ONNX models of metadata format 1 and checkpoints of
format 2 are read; all were written by 0.1.x too. Each version check names the version that wrote a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpt_edge.api import Bundle, Event, EventStream, Prediction, StreamSummary
    from mpt_edge.spotting.offline import SpotResult

__version__ = "0.2.0"

__all__ = ["Bundle", "Event", "EventStream", "Prediction", "StreamSummary", "spot", "__version__"]


def __getattr__(name: str) -> Any:
    """The API's classes, imported on first use (they load OpenCV)."""
    if name in ("Bundle", "Event", "EventStream", "Prediction", "StreamSummary"):
        from mpt_edge import api

        return getattr(api, name)
    raise AttributeError(f"module 'mpt_edge' has no attribute {name!r}")


def spot(
    video: str | Path,
    bundle: str | Path | None = None,
    *,
    fps: float | None = None,
    face: str = "auto",
    baseline: bool = False,
) -> SpotResult:
    """Every micro- and macro-expression interval of one video (a file or a folder of frames), the same
    spotter as ``mpt-edge run``; with ``bundle`` each interval gets the model's class and scores.

    >>> result = mpt_edge.spot("session.mp4")                       # doctest: +SKIP
    >>> [(i.kind, i.onset, i.apex, i.offset) for i in result.intervals]  # doctest: +SKIP
    """
    from mpt_edge.spotting.offline import SpotOptions, spot_video

    if bundle is None:
        return spot_video(video, None, None, SpotOptions(fps=fps, face_detector=face, baseline=baseline))
    from mpt_edge.api import Bundle

    with Bundle.open(bundle) as opened:
        return opened.spot(video, fps=fps, face=face, baseline=baseline)
