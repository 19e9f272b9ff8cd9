"""Intervals and the Micro-Expression Grand Challenge's spotting evaluation.

MEGC (2019-2022, as the challenge reports it): a spotted interval is a true positive when its IoU with a
ground-truth interval of the same video and the same type is >= 0.5, each ground truth matched at most
once; every other spotted interval is a false positive, every unmatched ground truth a false negative.
Precision, recall and F1 are computed per type (ME, MaE) and overall from the summed counts, per video
and pooled over a data set. IoU is over frames, both ends included.

Matching is greedy by IoU, highest first (ties: earlier ground truth, then earlier spotted interval), so
one spotted interval that overlaps two ground truths takes the better one and the other stays missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mpt_edge.stream.events import Event

KINDS = ("ME", "MaE")
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Interval:
    """One expression in a video: frame indices of the stream (0 = its first frame), both ends included."""

    onset: int
    apex: int
    offset: int
    kind: str = "ME"  # ME (micro-expression) or MaE (macro-expression)
    score: float = 0.0
    label: str | None = None
    scores: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"interval type {self.kind!r}; choose ME or MaE")
        if not self.onset <= self.offset:
            raise ValueError(f"interval {self.onset}-{self.offset}: onset after offset")

    @property
    def length(self) -> int:
        return self.offset - self.onset + 1


def iou(a: Interval, b: Interval) -> float:
    inter = min(a.offset, b.offset) - max(a.onset, b.onset) + 1
    if inter <= 0:
        return 0.0
    return inter / (a.length + b.length - inter)


def interval_of_event(event: Event) -> Interval:
    """A stream event as an interval: what ``spot`` and the session report use."""
    return Interval(
        event.frame_onset,
        event.frame_apex,
        event.frame_offset,
        event.type,
        event.score,
        event.label,
        dict(event.scores) if event.label is not None else None,
    )


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def match(
    spotted: Sequence[Interval], truth: Sequence[Interval], threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int]]:
    """(spotted index, truth index) pairs matched greedily by IoU >= ``threshold``, each used once."""
    pairs = sorted(
        ((iou(s, t), j, i) for i, s in enumerate(spotted) for j, t in enumerate(truth) if iou(s, t) >= threshold),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    used_spotted, used_truth, matched = set(), set(), []
    for _, j, i in pairs:
        if i not in used_spotted and j not in used_truth:
            used_spotted.add(i)
            used_truth.add(j)
            matched.append((i, j))
    return sorted(matched)


def count(
    spotted: Sequence[Interval], truth: Sequence[Interval], kind: str, threshold: float = IOU_THRESHOLD
) -> Counts:
    """TP/FP/FN of one type in one video."""
    mine = [s for s in spotted if s.kind == kind]
    theirs = [t for t in truth if t.kind == kind]
    tp = len(match(mine, theirs, threshold))
    return Counts(tp, len(mine) - tp, len(theirs) - tp)


@dataclass(frozen=True)
class SpottingScore:
    """Counts per type and overall, for one video or pooled over many."""

    by_kind: Mapping[str, Counts] = field(default_factory=lambda: {k: Counts() for k in KINDS})

    @property
    def overall(self) -> Counts:
        total = Counts()
        for counts in self.by_kind.values():
            total = total + counts
        return total

    def __add__(self, other: SpottingScore) -> SpottingScore:
        return SpottingScore({k: self.by_kind.get(k, Counts()) + other.by_kind.get(k, Counts()) for k in KINDS})

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {**{k: self.by_kind[k].as_dict() for k in KINDS}, "overall": self.overall.as_dict()}


def score_video(
    spotted: Sequence[Interval], truth: Sequence[Interval], threshold: float = IOU_THRESHOLD
) -> SpottingScore:
    return SpottingScore({k: count(spotted, truth, k, threshold) for k in KINDS})


def pool(scores: Iterable[SpottingScore]) -> SpottingScore:
    total = SpottingScore()
    for score in scores:
        total = total + score
    return total


# --- what surrounds the truth: a spotter's errors by context ----------------------------------------------

CONTEXTS = ("quiet", "talking", "blink", "head move")


@dataclass(frozen=True)
class Distractors:
    """What else a video's face does (the generator's record): a screener's spotter must not report it.
    Frame indices of the stream, as the intervals'."""

    blinks: tuple[int, ...] = ()  # frame of each blink's peak
    talking: tuple[tuple[int, int], ...] = ()  # (start, end) of each talking spell
    moves: tuple[tuple[int, int], ...] = ()  # (start, end) of each quick head move

    def context(self, frame: int, fps: float) -> str:
        """Where ``frame`` falls: talking (in a spell, 0.2 s either side), near a blink (0.5 s), in a head
        move (0.3 s), else quiet — in that order where several hold."""
        if any(a - 0.2 * fps <= frame <= b + 0.2 * fps for a, b in self.talking):
            return "talking"
        if any(abs(frame - peak) <= 0.5 * fps for peak in self.blinks):
            return "blink"
        if any(a - 0.3 * fps <= frame <= b + 0.3 * fps for a, b in self.moves):
            return "head move"
        return "quiet"


def count_by_context(
    spotted: Sequence[Interval], truth: Sequence[Interval], distractors: Distractors, fps: float
) -> dict[str, Counts]:
    """TP/FP/FN (every type together, matched per type as MEGC matches) split by the context of each
    interval's apex: a ground truth's for TP and FN, a false positive's own for FP."""
    counts = {c: Counts() for c in CONTEXTS}
    for kind in KINDS:
        mine = [s for s in spotted if s.kind == kind]
        theirs = [t for t in truth if t.kind == kind]
        pairs = match(mine, theirs)
        hit_spotted, hit_truth = {i for i, _ in pairs}, {j for _, j in pairs}
        for j, t in enumerate(theirs):
            where = distractors.context(t.apex, fps)
            counts[where] = counts[where] + (Counts(tp=1) if j in hit_truth else Counts(fn=1))
        for i, s in enumerate(mine):
            if i not in hit_spotted:
                where = distractors.context(s.apex, fps)
                counts[where] = counts[where] + Counts(fp=1)
    return counts


def false_mes_per_minute(spotted: Sequence[Interval], truth: Sequence[Interval], frames: int, fps: float) -> float:
    """Spotted micro-expressions that match no true one, per minute of video."""
    return count(spotted, truth, "ME").fp / (frames / fps / 60) if frames and fps else 0.0
