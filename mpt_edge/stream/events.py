"""The one event type from the spotter to the user: what :meth:`Pipeline.process` returns, what every
sink (event lines, window, recording, live view, report) and ``mpt_edge.Bundle.stream`` receive, and
what ``mpt-edge run`` writes as a JSON line (:meth:`Event.as_dict`; :meth:`Event.from_dict` reads it back)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EXPRESSION_KINDS = ("ME", "MaE")
EVENT_KINDS = (*EXPRESSION_KINDS, "blink", "talking")


@dataclass(frozen=True)
class Event:
    """A spotted micro-expression (``type`` "ME") or macro-expression ("MaE"), with the model's class, or
    a span of the face's own doings: a ``blink`` or a ``talking`` spell (no class)."""

    type: str
    frame_onset: int
    frame_apex: int
    frame_offset: int
    t_onset: float
    t_apex: float
    t_offset: float
    score: float
    label: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    face_box: tuple[int, int, int, int] | None = None

    @property
    def is_expression(self) -> bool:
        """ME or MaE: what the model classifies and MEGC scores (not a blink, not talking)."""
        return self.type in EXPRESSION_KINDS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        box = data.get("face_box")
        return cls(
            type=str(data["type"]),
            frame_onset=int(data["frame_onset"]),
            frame_apex=int(data["frame_apex"]),
            frame_offset=int(data["frame_offset"]),
            t_onset=float(data["t_onset"]),
            t_apex=float(data["t_apex"]),
            t_offset=float(data["t_offset"]),
            score=float(data["score"]),
            label=data.get("label"),
            scores=dict(data.get("scores") or {}),
            face_box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON line ``mpt-edge run`` writes for this event."""
        data: dict[str, Any] = {
            "type": self.type,
            "t_onset": self.t_onset,
            "t_apex": self.t_apex,
            "t_offset": self.t_offset,
            "frame_onset": self.frame_onset,
            "frame_apex": self.frame_apex,
            "frame_offset": self.frame_offset,
            "score": self.score,
        }
        if self.label is not None:
            data["label"], data["scores"] = self.label, dict(self.scores)
        data["face_box"] = list(self.face_box) if self.face_box else None
        return data
