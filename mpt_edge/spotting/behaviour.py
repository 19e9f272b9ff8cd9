"""The face's own doings beside its expressions: blinks and talking, recognised on their own regions and
reported as spans — a screener wants the blink rate and where the person talked, and the spotter uses
them to explain the motion of those regions away (:mod:`mpt_edge.spotting.spotter`).

Measured on the two regions' energies the spotter already computes (the high-passed cell means of the
canonical landmark crop against the neutral face): a **blink** is a rise of the eyes' energy over
``blink_ratio`` x the noise threshold, its span the frames it stays up; a **syllable** a rise of the mouth's
energy over ``syllable_ratio`` x the threshold, and **talking** ``talk_syllables`` syllables within
``talk_window_frames``, the spell lasting while they keep coming (``talk_hold_frames`` after the last).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mpt_edge.spotting.intervals import Counts, Distractors

if TYPE_CHECKING:
    from mpt_edge.spotting.spotter import SpotterConfig
    from mpt_edge.stream.events import Event

BEHAVIOUR_KINDS = ("blink", "talking")
# A syllable: the mouth's energy rises to over SYLLABLE_RISE x its last trough (and over the threshold);
# it is over once it falls under SYLLABLE_FALL x its crest (the synthetic talking face's 4 Hz jaw: every
# syllable counted, where a rise over the threshold alone counted the first of a spell).
SYLLABLE_RISE = 1.5
SYLLABLE_FALL = 0.6


@dataclass(frozen=True)
class Span:
    """A blink or a talking spell: frame indices of the stream, both ends included."""

    kind: str  # "blink" or "talking"
    onset: int
    apex: int  # the frame its region moved most
    offset: int
    score: float = 0.0  # the region's peak energy x the noise threshold
    count: int = 1  # rises of the mouth's energy in a talking spell (~2 a syllable); 1 for a blink

    def __post_init__(self) -> None:
        if self.kind not in BEHAVIOUR_KINDS:
            raise ValueError(f"span type {self.kind!r}; choose one of {', '.join(BEHAVIOUR_KINDS)}")
        if not self.onset <= self.apex <= self.offset:
            raise ValueError(f"span {self.onset}/{self.apex}/{self.offset}: not onset <= apex <= offset")

    @property
    def length(self) -> int:
        return self.offset - self.onset + 1


@dataclass
class _Open:
    onset: int
    apex: int
    last: int  # the last frame its region was up
    peak: float
    count: int = 1


class BehaviourTracker:
    """Blinks and talking from the eyes' and the mouth's energies, frame by frame; finished spans wait in
    :attr:`finished` until :meth:`take` drains them. Counts outlive :meth:`close` (a crop change)."""

    def __init__(self, config: SpotterConfig) -> None:
        self.config = config
        self.syllables: deque[int] = deque(maxlen=64)  # onsets: what talking is judged on
        self.blinks: deque[int] = deque(maxlen=64)
        self.finished: deque[Span] = deque()
        self.blink_count = 0
        self.syllable_count = 0
        self.now = 0
        self._blink: _Open | None = None
        self._talk: _Open | None = None
        self._mouth_up = False
        self._crest = self._trough = 0.0
        self._talk_ended = -1
        self.learned: bool | None = None
        self.learned_explaining: bool | None = None

    @property
    def talking(self) -> bool:
        """Talking as reported (the spans): the learned recogniser's call where one runs
        (:mod:`mpt_edge.spotting.talking`), else :attr:`rule_talking`."""
        return self.learned if self.learned is not None else self.rule_talking

    @property
    def rule_talking(self) -> bool:
        """The syllable rule: ``talk_syllables`` syllables within the talk window, the last within the hold."""
        recent = [t for t in self.syllables if self.now - t <= self.config.talk_window_frames]
        return len(recent) >= self.config.talk_syllables and self.now - recent[-1] <= self.config.talk_hold_frames

    @property
    def explaining(self) -> bool:
        """Talking as the spotter takes it to leave the mouth out: the recogniser's where the spotter is told
        to (``SpotterConfig.learned_explaining``), else :attr:`rule_talking`."""
        return self.learned_explaining if self.learned_explaining is not None else self.rule_talking

    def blinked_within(self, index: int, frames: int) -> bool:
        return any(abs(b - index) <= frames for b in self.blinks)

    def update(
        self,
        index: int,
        mouth: float,
        eyes: float,
        limit: float,
        talking: bool | None = None,
        ring: float = 0.0,
        talking_since: int | None = None,
        explaining: bool | None = None,
    ) -> None:
        """One frame's region energies against the noise threshold ``limit`` (inf while warming up) —
        ``ring`` the largest around the eyes (brows, cheeks) — and the learned recogniser's call on talking
        and the frame it began (None: the syllable rule decides)."""
        self.now, self.learned, self.learned_explaining = index, talking, explaining
        ratio = (lambda v: v / limit) if 0 < limit < float("inf") else (lambda v: 0.0)
        up = mouth > self.config.syllable_ratio * limit
        # a syllable is a rise of the mouth's energy out of a trough: while a person talks the energy need
        # not fall under the threshold between syllables (the neutral face follows the mouth a little)
        if self._mouth_up:
            self._crest = max(self._crest, mouth)
            if not up or mouth < SYLLABLE_FALL * self._crest:
                self._mouth_up, self._trough = False, mouth
        else:
            self._trough = min(self._trough, mouth)
            if up and mouth > SYLLABLE_RISE * self._trough:
                self._mouth_up, self._crest = True, mouth
                self.syllables.append(index)
                self.syllable_count += 1
                if self._talk is not None:
                    self._talk.count += 1
        if self._talk is None and self.talking:
            recent = [t for t in self.syllables if index - t <= self.config.talk_window_frames]
            onset = recent[0] if recent and talking is None else (talking_since if talking_since is not None else index)
            self._talk = _Open(max(onset, self._talk_ended + 1), index, index, ratio(mouth), len(recent))
        if self._talk is not None:
            if up or talking:
                self._talk.last = index
                if ratio(mouth) > self._talk.peak:
                    self._talk.peak, self._talk.apex = ratio(mouth), index
            if not self.talking:
                self._finish("talking", self._talk)
                self._talk_ended = self._talk.last
                self._talk = None
        # a blink ends as an event does: under the threshold or under end_fraction of its peak (the neutral
        # face took a little of the closed lid while it lasted)
        floor = self.config.end_fraction * self._blink.peak * limit if self._blink is not None else 0.0
        # ... and the lids move more than the brows and cheeks around them: a brow's expression moves the
        # eyes' cells too, less than its own
        up = eyes > max(self.config.blink_ratio * limit, floor)
        if up and self._blink is None:
            up = eyes >= self.config.blink_dominance * ring
        if up:
            if self._blink is None:
                self.blinks.append(index)
                self._blink = _Open(index, index, index, ratio(eyes))
            self._blink.last = index
            if ratio(eyes) > self._blink.peak:
                self._blink.peak, self._blink.apex = ratio(eyes), index
        elif self._blink is not None and index - self._blink.last > self.config.blink_hold_frames:
            # down for the hold: over (a lid that rises again within it is the same blink, reopening)
            self._finish("blink", self._blink)
            self._blink = None

    @property
    def blinking(self) -> bool:
        """A blink is open: the eyes' energy is up, or was within the hold."""
        return self._blink is not None

    def _finish(self, kind: str, span: _Open) -> None:
        if kind == "talking" and span.last - span.onset + 1 < self.config.talking_min_frames:
            return  # a moment of mouth motion (an expression, a blink's pull on the crop): no spell to report
        if kind == "blink":
            if span.last - span.onset + 1 > self.config.blink_max_frames:
                return  # the eyes' cells moved too long for a blink: a head move, a squint, not reported
            self.blink_count += 1
        apex = min(max(span.apex, span.onset), span.last)
        self.finished.append(Span(kind, span.onset, apex, span.last, round(span.peak, 3), span.count))

    def close(self) -> None:
        """End what is open (the face was lost or re-anchored, or the stream ended)."""
        if self._talk is not None:
            self._finish("talking", self._talk)
            self._talk_ended = self._talk.last
        if self._blink is not None:
            self._finish("blink", self._blink)
        self._talk = self._blink = None
        self._mouth_up, self._crest, self._trough = False, 0.0, 0.0
        self.syllables.clear()
        self.blinks.clear()

    def take(self) -> list[Span]:
        """The spans finished since the last call, in the order they ended."""
        spans = list(self.finished)
        self.finished.clear()
        return spans


def blinks_per_minute(spans: Sequence[Span], frames: int, fps: float) -> float:
    """The blink rate over ``frames`` frames at ``fps`` (0 for an empty stream)."""
    minutes = frames / fps / 60 if fps else 0.0
    return sum(s.kind == "blink" for s in spans) / minutes if minutes else 0.0


def talking_frames(spans: Sequence[Span]) -> int:
    """Frames covered by talking spells (spells do not overlap: one tracker makes them)."""
    return sum(s.length for s in spans if s.kind == "talking")


def span_of_event(event: Event) -> Span:
    """A stream's blink or talking event as a span: what ``spot`` and the reports keep."""
    return Span(event.type, event.frame_onset, event.frame_apex, event.frame_offset, event.score)


BLINK_SLACK_S = 0.1  # a spotted blink finds a true one whose peak lies within it, or this close to it


@dataclass(frozen=True)
class BehaviourScore:
    """How well blinks and talking were recognised against a set's record of them (the real-face
    generator's): blinks one-to-one (a true blink's peak inside a spotted blink, ``BLINK_SLACK_S`` either
    side), talking as frames (intersection over union of the spells' frames)."""

    blinks: Counts = Counts()
    talking_overlap: int = 0  # frames in both a spotted and a true spell
    talking_union: int = 0
    talking_true: int = 0  # frames in a true spell

    def __add__(self, other: BehaviourScore) -> BehaviourScore:
        return BehaviourScore(
            self.blinks + other.blinks,
            self.talking_overlap + other.talking_overlap,
            self.talking_union + other.talking_union,
            self.talking_true + other.talking_true,
        )

    @property
    def talking_iou(self) -> float:
        return self.talking_overlap / self.talking_union if self.talking_union else 0.0

    @property
    def talking_recall(self) -> float:
        return self.talking_overlap / self.talking_true if self.talking_true else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "blinks": self.blinks.as_dict(),
            "talking_iou": round(self.talking_iou, 4),
            "talking_recall": round(self.talking_recall, 4),
        }


def score_behaviour(spans: Sequence[Span], distractors: Distractors, frames: int, fps: float) -> BehaviourScore:
    """Spotted blinks and talking spells of one video against its record (see :class:`BehaviourScore`)."""
    import numpy as np

    slack = int(round(BLINK_SLACK_S * fps))
    spotted = sorted((s for s in spans if s.kind == "blink"), key=lambda s: s.onset)
    used: set[int] = set()
    for peak in sorted(distractors.blinks):
        hit = next(
            (i for i, s in enumerate(spotted) if i not in used and s.onset - slack <= peak <= s.offset + slack), None
        )
        if hit is not None:
            used.add(hit)
    blinks = Counts(len(used), len(spotted) - len(used), len(distractors.blinks) - len(used))
    ours, theirs = np.zeros(frames, bool), np.zeros(frames, bool)
    for span in spans:
        if span.kind == "talking":
            ours[max(0, span.onset) : span.offset + 1] = True
    for start, end in distractors.talking:
        theirs[max(0, start) : end + 1] = True
    return BehaviourScore(blinks, int((ours & theirs).sum()), int((ours | theirs).sum()), int(theirs.sum()))
