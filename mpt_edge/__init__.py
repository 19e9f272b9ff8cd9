"""mpt-edge: Motion Prompt Tuning micro-expression recognition, from workstation to edge device.

This package is the device side: it must import without torch (DESIGN §2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from mpt_edge.spotting.offline import SpotResult

__version__ = "0.1.0"


def spot(video: Union[str, Path], bundle: Optional[Union[str, Path]] = None, *, fps: Optional[float] = None,
         face: str = "auto", baseline: bool = False) -> "SpotResult":
    """Every micro- and macro-expression interval of one video (a file or a folder of frames), the same
    spotter as ``mpt-edge run``; with ``bundle`` each interval gets the model's class and scores.

    >>> result = mpt_edge.spot("session.mp4")                       # doctest: +SKIP
    >>> [(i.kind, i.onset, i.apex, i.offset) for i in result.intervals]  # doctest: +SKIP
    """
    from mpt_edge.spotting.offline import SpotOptions, spot_video

    loaded, engine = None, None
    if bundle is not None:
        from mpt_edge.bundle import load_bundle
        from mpt_edge.engines import open_bundle_engine
        from mpt_edge.precision import resolve_precision

        loaded = load_bundle(Path(bundle))
        engine = open_bundle_engine(loaded, lambda _: None, precision=resolve_precision(loaded, "auto", lambda _: None))
    return spot_video(video, loaded, engine, SpotOptions(fps=fps, face_detector=face, baseline=baseline))
