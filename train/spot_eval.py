"""Spotting scored as MEGC scores it, on a long-video set: our spotter and the field's baseline on the
same videos and the same aligned faces, per video and pooled (:mod:`mpt_edge.spotting.intervals`).

The baseline's threshold ``p`` is swept (``BASELINE_PS``) and the baseline is reported at its best pooled
overall F1 — the comparison gives the baseline its best case, chosen on the very videos it is scored on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mpt_edge.io import atomic_write_bytes
from mpt_edge.spotting.behaviour import BehaviourScore, Span, score_behaviour
from mpt_edge.spotting.intervals import (
    CONTEXTS,
    Counts,
    Distractors,
    Interval,
    SpottingScore,
    count_by_context,
    pool,
    score_video,
)
from mpt_edge.spotting.offline import SpotOptions, SpotResult, spot_video
from train.data.long_videos import LongVideo, read_long_videos

BASELINE_PS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


@dataclass(frozen=True)
class VideoScore:
    video: str
    subject: str
    frames: int
    seconds: float  # wall time of the spotting pass
    ours: SpottingScore
    baseline: SpottingScore
    intervals: tuple[Interval, ...] = field(repr=False, default=())
    baseline_intervals: tuple[Interval, ...] = field(repr=False, default=())
    truth: tuple[Interval, ...] = field(repr=False, default=())
    fps: float = 30.0
    distractors: Distractors | None = field(repr=False, default=None)  # where the set records them
    spans: tuple[Span, ...] = field(repr=False, default=())  # blinks and talking spells we spotted


@dataclass(frozen=True)
class SpottingEvaluation:
    dataset: str
    root: str
    videos: tuple[VideoScore, ...]
    ours: SpottingScore
    baseline: SpottingScore
    baseline_p: float
    baseline_sweep: dict[float, float]  # p -> pooled overall F1
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def minutes(self) -> float:
        return sum(v.frames / v.fps for v in self.videos) / 60

    def false_mes_per_minute(self, who: str = "ours") -> float:
        """Spotted MEs that match no true ME, per minute of video (``who``: ours or baseline)."""
        return (self.ours if who == "ours" else self.baseline).by_kind["ME"].fp / self.minutes if self.minutes else 0.0

    def by_context(self, who: str = "ours") -> dict[str, Counts] | None:
        """Counts split by what surrounds each interval (quiet, talking, blink, head move), pooled; None
        where the set does not record its distractors (the real data sets)."""
        if not self.videos or any(v.distractors is None for v in self.videos):
            return None
        total = {c: Counts() for c in CONTEXTS}
        for v in self.videos:
            assert v.distractors is not None
            spotted = v.intervals if who == "ours" else v.baseline_intervals
            for c, counts in count_by_context(spotted, v.truth, v.distractors, v.fps).items():
                total[c] = total[c] + counts
        return total

    def behaviour(self) -> BehaviourScore | None:
        """Blinks and talking recognised against the set's record, pooled; None where it keeps none."""
        if not self.videos or any(v.distractors is None for v in self.videos):
            return None
        total = BehaviourScore()
        for v in self.videos:
            assert v.distractors is not None
            total = total + score_behaviour(v.spans, v.distractors, v.frames, v.fps)
        return total

    def as_dict(self) -> dict:
        contexts = {who: self.by_context(who) for who in ("ours", "baseline")}
        behaviour = self.behaviour()
        return {
            "dataset": self.dataset,
            "root": self.root,
            "frames": self.frames,
            "seconds": round(self.seconds, 1),
            "frames_per_second": round(self.frames_per_second, 1),
            "ours": self.ours.as_dict(),
            "baseline": self.baseline.as_dict(),
            "baseline_p": self.baseline_p,
            "baseline_sweep": {str(k): round(v, 4) for k, v in self.baseline_sweep.items()},
            "minutes": round(self.minutes, 2),
            "false_me_per_minute": {who: round(self.false_mes_per_minute(who), 2) for who in ("ours", "baseline")},
            "by_context": {
                who: ({c: n.as_dict() for c, n in found.items()} if found is not None else None)
                for who, found in contexts.items()
            },
            "behaviour": behaviour.as_dict() if behaviour is not None else None,
            "videos": [
                {
                    "video": v.video,
                    "subject": v.subject,
                    "frames": v.frames,
                    "ours": v.ours.as_dict(),
                    "baseline": v.baseline.as_dict(),
                }
                for v in self.videos
            ],
        }


def evaluate_spotting(
    dataset: str,
    root: Path | None,
    bundle=None,
    engine=None,
    options: SpotOptions = SpotOptions(baseline=True),
    plots: Path | None = None,
    on_video: Callable[[LongVideo], Callable[[int], None]] | None = None,
    log: Callable[[str], None] = lambda _: None,
    *,
    baseline: bool = True,
) -> SpottingEvaluation:
    """Spot every video of the set (ours and the baseline), score both, optionally plot each video. With
    ``baseline=False`` the baseline is not run and scores as spotting nothing (a sweep of our spotter's
    settings need not pay the LBP histograms of every frame)."""
    from dataclasses import replace

    videos = read_long_videos(dataset, root)
    for note in videos.notes:
        log(f"note: {note}")
    results: list[tuple[LongVideo, SpotResult]] = []
    for video in videos.videos:
        tick = on_video(video) if on_video else None
        result = spot_video(video.folder, bundle, engine, replace(options, fps=video.fps, baseline=baseline), tick, log)
        results.append((video, result))
        if plots is not None:
            plot_video(plots / f"{video.subject}_{video.name}.png", video, result)
    recorded = recorded_distractors(Path(root)) if root is not None else {}
    sweep = {p: pool(score_video(r.baseline_intervals(p), v.truth) for v, r in results).overall.f1 for p in BASELINE_PS}
    best_p = max(sweep, key=lambda p: (sweep[p], -p))
    scores = tuple(
        VideoScore(
            f"{v.subject}/{v.name}",
            v.subject,
            r.frames,
            r.seconds,
            score_video(r.intervals, v.truth),
            score_video(r.baseline_intervals(best_p), v.truth),
            r.intervals,
            tuple(r.baseline_intervals(best_p)),
            v.truth,
            r.fps,
            recorded.get(v.subject),
            r.spans,
        )
        for v, r in results
    )
    return SpottingEvaluation(
        dataset,
        str(root),
        scores,
        pool(s.ours for s in scores),
        pool(s.baseline for s in scores),
        best_p,
        sweep,
        sum(r.frames for _, r in results),
        sum(r.seconds for _, r in results),
    )


def recorded_distractors(root: Path) -> dict[str, Distractors]:
    """Blinks, talking and quick head moves per subject (``s15`` ...), from the real-face generator's
    record (``realface_long.json``); empty for a set without one."""
    path = root / "realface_long.json"
    if not path.is_file():
        return {}
    meta = json.loads(path.read_text())
    found = {}
    for video in meta.get("videos", []):
        found[f"s{video['code']}"] = Distractors(
            tuple(int(b) for b in video.get("blinks", ())),
            tuple((int(a), int(b)) for a, b, *_ in video.get("talking", ())),
            tuple((int(a), int(b)) for a, b in video.get("moves", ())),
        )
    return found


def plot_video(path: Path, video: LongVideo, result: SpotResult) -> Path:
    """The spotter's signal over time with the spotted and the true intervals (one PNG per video)."""
    import cv2

    from mpt_edge.spotting.report import timeline_image

    image = timeline_image(
        result.energy, result.threshold, result.intervals, result.fps, video.truth, spans=result.spans
    )
    cv2.putText(
        image,
        f"{video.subject}/{video.name}",
        (image.shape[1] - 260, 14),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.42,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", image)
    return atomic_write_bytes(path, data.tobytes())


def write_evaluation(out: Path, evaluation: SpottingEvaluation) -> list[Path]:
    """spotting.json (scores) and intervals.jsonl (every spotted and true interval), atomically."""
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for video in evaluation.videos:
        for source, intervals in (
            ("ours", video.intervals),
            ("baseline", video.baseline_intervals),
            ("truth", video.truth),
        ):
            for i in intervals:
                lines.append(
                    json.dumps(
                        {
                            "video": video.video,
                            "source": source,
                            "type": i.kind,
                            "onset": i.onset,
                            "apex": i.apex,
                            "offset": i.offset,
                            "score": round(i.score, 4),
                            "label": i.label,
                        }
                    )
                )
    return [
        atomic_write_bytes(out / "spotting.json", (json.dumps(evaluation.as_dict(), indent=2) + "\n").encode()),
        atomic_write_bytes(out / "intervals.jsonl", ("\n".join(lines) + "\n").encode()),
    ]
