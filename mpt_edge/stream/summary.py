"""How a stream went, typed from where it is made (:meth:`StreamSession.summary`) to where it is printed:
``mpt-edge run`` prints :meth:`StreamSummary.as_dict` with ``--json`` (the layout 0.2.0 printed, key for
key), ``mpt_edge.Bundle.stream(...).summary`` hands the object itself to Python code, and
:meth:`StreamSummary.from_dict` reads a printed one back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Latency:
    """Milliseconds from an apex frame's arrival to its event, median and 99th percentile."""

    p50: float
    p99: float


@dataclass(frozen=True)
class ServerSummary:
    """A remote engine's session: what the Triton server's outages cost (events spotted, not classified)."""

    url: str
    model: str | None
    outages: int
    failed_requests: int
    unserved_events: int


@dataclass(frozen=True)
class StreamSummary:
    """How a stream went: frames, rate, events by type, what was dropped or had no face, where the time went."""

    source: str
    frames: int
    events: int  # expressions (ME, MaE); blinks and talking spells are counted apart
    fps: float | None  # frames processed a second (None for an empty stream)
    seconds: float
    dropped: int
    no_face_frames: int
    errors: tuple[str, ...] = ()
    face_detector: str = ""
    events_by_type: Mapping[str, int] = field(default_factory=dict)
    corrupt_frames: int = 0
    reconnects: int = 0
    crop_changes: int = 0  # re-anchors: the spotter restarted
    crop_follows: int = 0
    lost_face: int = 0
    detections: int = 0
    head_movements_suppressed: int = 0
    me_candidates_dropped: int = 0  # judged no micro-expression by the learned ME scorer: not reported
    # the face's own doings, where the spotter watches its regions (landmark-aligned crops)
    blinks: int = 0
    blinks_per_minute: float | None = None
    talking_spells: int = 0
    talking_share: float | None = None  # the share of frames talked in
    events_explained: Mapping[str, int] = field(default_factory=dict)  # by talking, by a blink: not reported
    stage_ms_per_frame: Mapping[str, float] = field(default_factory=dict)
    latency_ms_apex_to_event: Latency | None = None
    peak_rss_mb: float = 0.0
    server: ServerSummary | None = None

    @property
    def details(self) -> dict[str, Any]:
        """The whole summary as ``mpt-edge run --json`` prints it (0.2.0's name for :meth:`as_dict`)."""
        return self.as_dict()

    def as_dict(self) -> dict[str, Any]:
        """``mpt-edge run --json``'s layout."""
        latency = self.latency_ms_apex_to_event
        data: dict[str, Any] = {
            "source": self.source,
            "face_detector": self.face_detector,
            "frames": self.frames,
            "events": self.events,
            "events_by_type": dict(self.events_by_type),
            "seconds": self.seconds,
            "fps": self.fps,
            "dropped": self.dropped,
            "corrupt_frames": self.corrupt_frames,
            "reconnects": self.reconnects,
            "no_face_frames": self.no_face_frames,
            "crop_changes": self.crop_changes,
            "crop_follows": self.crop_follows,
            "lost_face": self.lost_face,
            "detections": self.detections,
            "head_movements_suppressed": self.head_movements_suppressed,
            "me_candidates_dropped": self.me_candidates_dropped,
            "blinks": self.blinks,
            "blinks_per_minute": self.blinks_per_minute,
            "talking_spells": self.talking_spells,
            "talking_share": self.talking_share,
            "events_explained": dict(self.events_explained),
            "stage_ms_per_frame": dict(self.stage_ms_per_frame),
            "latency_ms_apex_to_event": {"p50": latency.p50, "p99": latency.p99} if latency else None,
            "peak_rss_mb": self.peak_rss_mb,
            "errors": list(self.errors),
        }
        if self.server is not None:
            server = self.server
            data["server"] = {
                "url": server.url,
                "model": server.model,
                "outages": server.outages,
                "failed_requests": server.failed_requests,
                "unserved_events": server.unserved_events,
            }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamSummary:
        """A summary ``mpt-edge run --json`` printed, read back (keys it lacks take their defaults)."""
        latency, server = data.get("latency_ms_apex_to_event"), data.get("server")
        return cls(
            source=str(data["source"]),
            frames=int(data["frames"]),
            events=int(data["events"]),
            fps=None if data.get("fps") is None else float(data["fps"]),
            seconds=float(data["seconds"]),
            dropped=int(data["dropped"]),
            no_face_frames=int(data["no_face_frames"]),
            errors=tuple(str(e) for e in data.get("errors") or ()),
            face_detector=str(data.get("face_detector") or ""),
            events_by_type={str(k): int(v) for k, v in (data.get("events_by_type") or {}).items()},
            corrupt_frames=int(data.get("corrupt_frames") or 0),
            reconnects=int(data.get("reconnects") or 0),
            crop_changes=int(data.get("crop_changes") or 0),
            crop_follows=int(data.get("crop_follows") or 0),
            lost_face=int(data.get("lost_face") or 0),
            detections=int(data.get("detections") or 0),
            head_movements_suppressed=int(data.get("head_movements_suppressed") or 0),
            me_candidates_dropped=int(data.get("me_candidates_dropped") or 0),
            blinks=int(data.get("blinks") or 0),
            blinks_per_minute=None if data.get("blinks_per_minute") is None else float(data["blinks_per_minute"]),
            talking_spells=int(data.get("talking_spells") or 0),
            talking_share=None if data.get("talking_share") is None else float(data["talking_share"]),
            events_explained={str(k): int(v) for k, v in (data.get("events_explained") or {}).items()},
            stage_ms_per_frame={str(k): float(v) for k, v in (data.get("stage_ms_per_frame") or {}).items()},
            latency_ms_apex_to_event=Latency(float(latency["p50"]), float(latency["p99"])) if latency else None,
            peak_rss_mb=float(data.get("peak_rss_mb") or 0.0),
            server=(
                ServerSummary(
                    str(server["url"]),
                    None if server.get("model") is None else str(server["model"]),
                    int(server.get("outages") or 0),
                    int(server.get("failed_requests") or 0),
                    int(server.get("unserved_events") or 0),
                )
                if server
                else None
            ),
        )
