"""Train the spotter's learned ME scorer (:mod:`mpt_edge.spotting.me_scorer`) on the tuning people's
conversation videos and write it as the ONNX model the device runs.

    python -m train.me_scorer --out runs/me-scorer             # both tuning sets (rendered once), the grid
    python -m train.me_scorer --out runs/me-scorer --install   # ... and the chosen model beside the module

Every choice is made on the tuning people only, each left out once (leave-one-person-out, the person's videos
in every tuning set together): the candidates' bar (``SpotterConfig.me_candidate_ratio``), the features (the
scalars alone, or with the onset -> apex cell map), the regularisation C and the threshold on P(ME), all by the
pooled MEGC overall F1 of the left-out people's own predictions. The held-out people of
``benchmarks/spotting_table.py`` are never read here. The candidates come from the stream pipeline itself
(:attr:`Pipeline.candidates`, the same :func:`~mpt_edge.spotting.me_scorer.candidate_features`), every frame.

Resumable: each (set, bar)'s candidates are kept in OUT/candidates-*.npz as soon as its videos are spotted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.spotting.intervals import Interval, SpottingScore, match, pool, score_video
from mpt_edge.spotting.me_scorer import MODEL, SCALARS, map_names
from mpt_edge.spotting.spotter import SpotterConfig
from train.data.drawn_long import drawn_person, is_drawn_person

# the candidates' spotters: the bar an ME's peak must reach (x the noise threshold), that threshold's k, the eye
# cells' reach (each spelled out: the defaults are what this chooses)
CANDIDATE_SPOTTERS: dict[str, dict[str, float]] = {
    **{f"bar {r:g}": {"me_candidate_ratio": r, "eye_reach": 0.12} for r in (1.0, 1.3, 1.6)},
    "k 3.5, bar 1.0": {"me_candidate_ratio": 1.0, "threshold_k": 3.5, "eye_reach": 0.12},
    # the eye cells' reach (SpotterConfig.eye_reach) down to a row: the brows' MEs reach the candidates, and so do
    # more of the lids' residues
    **{f"eyes 0.05, bar {r:g}": {"me_candidate_ratio": r, "eye_reach": 0.05} for r in (1.0, 1.3, 1.6)},
    # each cell held to its own noise floor (SpotterConfig.equalise_cells): a quiet brow's motion is not measured
    # against the threshold the lips' texture sets
    **{
        f"eyes 0.05, bar {r:g}, cells equalised": {"me_candidate_ratio": r, "eye_reach": 0.05, "equalise_cells": True}
        for r in (1.0, 1.3)
    },
    # the lips' corners watched while the face talks, beyond g x the lips' centre (SpotterConfig.talking_corners)
    **{
        f"eyes 0.05, bar {r:g}, corners {g:g}": {"me_candidate_ratio": r, "eye_reach": 0.05, "talking_corners": g}
        for r in (1.0, 1.3)
        for g in (0.5, 1.0)
    },
    # once a spell ends, the threshold from the quiet frames only (SpotterConfig.quiet_noise_after_talking)
    "eyes 0.05, bar 1.3, corners 1, quiet after talking": {
        "me_candidate_ratio": 1.3,
        "eye_reach": 0.05,
        "talking_corners": 1.0,
        "quiet_noise_after_talking": True,
    },
    # the noise level learned from quiet faces only (SpotterConfig.noise_skips_talking)
    **{
        f"eyes 0.05, bar {r:g}, quiet noise": {"me_candidate_ratio": r, "eye_reach": 0.05, "noise_skips_talking": True}
        for r in (1.0, 1.3)
    },
}
RULES = {"learned_me": False, "eye_reach": 0.12}  # the spotter before the scorer (0.4 dev): the comparison
C_GRID = (0.01, 0.1, 1.0)
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.91, 0.05))
FEATURE_SETS = ("scalars", "scalars+map")
# The choice: the best pooled overall F1 among the choices that spot at most this many false MEs a minute (the issue's
# bound for a screener); where none does, the fewest. Before, the best overall F1 alone, which took 1.1-1.8 false
# MEs a minute for 0.01-0.03 of F1 over the bounded choice (docs "Spotting").
FALSE_ME_BOUND = 1.0


@dataclass(frozen=True)
class VideoCandidates:
    """One video spotted with the candidates' bar: its truth, what else was spotted (MaEs), and each ME
    candidate with its features."""

    person: str
    truth: tuple[Interval, ...]
    others: tuple[Interval, ...]
    candidates: tuple[Interval, ...]
    features: np.ndarray  # (candidates, features)
    frames: int
    fps: float

    @property
    def drawn(self) -> bool:
        return is_drawn_person(self.person)

    def labels(self) -> np.ndarray:
        """1 where a candidate is one of the matched MEs (IoU >= 0.5, as MEGC matches)."""
        truth = [t for t in self.truth if t.kind == "ME"]
        hit = {i for i, _ in match(list(self.candidates), truth)}
        return np.asarray([i in hit for i in range(len(self.candidates))], bool)

    def score(self, kept: np.ndarray) -> SpottingScore:
        spotted = [*self.others, *(c for c, k in zip(self.candidates, kept, strict=True) if k)]
        return score_video(spotted, self.truth)


def spot_candidates(folder: Path, fps: float, spotter: SpotterConfig) -> tuple[list[Interval], list, int]:
    """(every expression spotted, the pipeline's ME candidates with features, frames) of one video."""
    from mpt_edge.spotting.intervals import interval_of_event
    from mpt_edge.stream.pipeline import PipelineConfig
    from mpt_edge.stream.session import StreamSession

    intervals: list[Interval] = []
    with StreamSession(None, None, str(folder), PipelineConfig(spotter=spotter), fps=fps, queue_size=32) as session:
        session.pipeline.me_scorer = None  # every candidate kept: what a scorer is trained on
        session.pipeline.candidates = []
        for _, event in session.frames():
            if event is not None and event.is_expression:
                intervals.append(interval_of_event(event))
        frames = session.pipeline.stats.frames
        return intervals, list(session.pipeline.candidates), frames


def set_candidates(
    root: Path, spotter: SpotterConfig, cache: Path, on_video: Callable[[str], None] = lambda _: None
) -> list[VideoCandidates]:
    """Every video of a tuning set, spotted by the candidates' ``spotter`` (cached in ``cache``); with
    ``spotter.learned_me`` every candidate is kept (none is judged)."""
    from mpt_edge.io import atomic_write_bytes
    from train.data.long_videos import read_long_videos

    videos = read_long_videos("casme_sq", root).videos
    record = root / "realface_long.json"
    if record.is_file():
        person_of = {f"s{v['code']}": str(v["identity"]) for v in json.loads(record.read_text())["videos"]}
    else:  # the drawn streams: each its own face
        person_of = {v.subject: drawn_person(root, v.subject) for v in videos}
    if cache.is_file():
        stored = json.loads(cache.with_suffix(".json").read_text())
        arrays = np.load(cache)
        return [
            VideoCandidates(
                v["person"],
                tuple(Interval(*t) for t in v["truth"]),
                tuple(Interval(*t) for t in v["others"]),
                tuple(Interval(*t) for t in v["candidates"]),
                arrays[f"v{i}"],
                v["frames"],
                v["fps"],
            )
            for i, v in enumerate(stored)
        ]
    out = []
    for video in videos:
        on_video(video.subject)
        spotted, candidates, frames = spot_candidates(video.folder, video.fps, spotter)
        features = np.concatenate([f for _, f in candidates]) if candidates else np.zeros((0, 0), np.float32)
        out.append(
            VideoCandidates(
                person_of[video.subject],
                video.truth,
                tuple(i for i in spotted if i.kind != "ME"),
                tuple(Interval(s.onset, s.apex, s.offset, "ME", s.score) for s, _ in candidates),
                features,
                frames,
                video.fps,
            )
        )

    def rows(intervals: Sequence[Interval]) -> list[list]:
        return [[i.onset, i.apex, i.offset, i.kind, i.score] for i in intervals]

    stored = [
        {
            "person": v.person,
            "truth": rows(v.truth),
            "others": rows(v.others),
            "candidates": rows(v.candidates),
            "frames": v.frames,
            "fps": v.fps,
        }
        for v in out
    ]
    buffer = io.BytesIO()
    named: dict[str, Any] = {f"v{i}": v.features for i, v in enumerate(out)}
    np.savez(buffer, **named)
    atomic_write_bytes(cache.with_suffix(".json"), json.dumps(stored).encode())
    atomic_write_bytes(cache, buffer.getvalue())
    return out


def columns(feature_set: str, n: int) -> np.ndarray:
    """The feature columns a feature set reads, of the ``n`` :func:`candidate_features` gives."""
    return np.arange(len(SCALARS)) if feature_set == "scalars" else np.arange(n)


@dataclass(frozen=True)
class Choice:
    candidates: str  # the candidates' spotter (CANDIDATE_SPOTTERS)
    feature_set: str
    c: float
    threshold: float
    overall_f1: float  # pooled over the real people left out, each predicted by a model that never saw them
    me_f1: float
    false_me_per_minute: float
    drawn_me_f1: float | None = None  # the drawn faces', each left out too (reported, not chosen on)


def _score(videos: Sequence[VideoCandidates], kept: Sequence[np.ndarray]) -> tuple[float, float, float]:
    total = pool(v.score(k) for v, k in zip(videos, kept, strict=True))
    minutes = sum(v.frames / v.fps for v in videos) / 60
    return total.overall.f1, total.by_kind["ME"].f1, total.by_kind["ME"].fp / minutes


def _model(c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, class_weight="balanced"))


def left_out_probabilities(videos: Sequence[VideoCandidates], feature_set: str, c: float) -> list[np.ndarray]:
    """Each video's candidates' P(ME), from a model fitted on the other people's videos."""
    n = next(v.features.shape[1] for v in videos if len(v.candidates))
    cols = columns(feature_set, n)
    people = sorted({v.person for v in videos})
    out: list[np.ndarray] = [np.zeros(len(v.candidates)) for v in videos]
    for person in people:
        train = [v for v in videos if v.person != person and len(v.candidates)]
        x = np.concatenate([v.features[:, cols] for v in train])
        y = np.concatenate([v.labels() for v in train])
        model = _model(c).fit(x, y)
        for i, v in enumerate(videos):
            if v.person == person and len(v.candidates):
                out[i] = model.predict_proba(v.features[:, cols])[:, 1]
    return out


def ranked(choices: Sequence[Choice], bound: float = FALSE_ME_BOUND) -> list[Choice]:
    """Best first: those within ``bound`` false MEs a minute by overall F1, then the rest by false MEs."""

    def order(ch: Choice) -> tuple[bool, float, float]:
        if ch.false_me_per_minute <= bound:
            return (False, -ch.overall_f1, ch.false_me_per_minute)
        return (True, ch.false_me_per_minute, -ch.overall_f1)

    return sorted(choices, key=order)


def choose(sets: dict[str, list[VideoCandidates]], log: Callable[[str], None] = print) -> list[Choice]:
    """Every (bar, features, C, threshold) scored leaving one person out (a drawn face too), on the real people's
    pooled MEGC overall F1; best first by :func:`ranked`."""
    from threadpoolctl import threadpool_limits

    choices = []
    with threadpool_limits(1):
        for name, videos in sets.items():
            for feature_set in FEATURE_SETS:
                for c in C_GRID:
                    probabilities = left_out_probabilities(videos, feature_set, c)
                    real = [i for i, v in enumerate(videos) if not v.drawn]
                    drawn = [i for i, v in enumerate(videos) if v.drawn]
                    for t in THRESHOLDS:
                        kept = [p >= t for p in probabilities]
                        overall, me, false = _score([videos[i] for i in real], [kept[i] for i in real])
                        on_drawn = _score([videos[i] for i in drawn], [kept[i] for i in drawn])[1] if drawn else None
                        choices.append(Choice(name, feature_set, c, t, overall, me, false, on_drawn))
                here = [ch for ch in choices if ch.candidates == name and ch.feature_set == feature_set]
                log(f"{name}, {feature_set}: best {ranked(here)[0]}")
    return ranked(choices)


def tradeoff(choices: Sequence[Choice], best: Choice) -> list[Choice]:
    """The chosen model's figures at every threshold (what ``--me-threshold`` trades), by threshold."""
    same = [c for c in choices if (c.candidates, c.feature_set, c.c) == (best.candidates, best.feature_set, best.c)]
    return sorted(same, key=lambda c: c.threshold)


def plot_tradeoff(path: Path, curve: Sequence[Choice], best: Choice) -> Path:
    """F1 and false MEs a minute against the threshold on P(ME), the tuning people left out (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mpt_edge.io import atomic_write_bytes

    thresholds = [c.threshold for c in curve]
    figure, left = plt.subplots(figsize=(7, 3.6))
    left.plot(thresholds, [c.overall_f1 for c in curve], "o-", color="tab:blue", label="overall F1")
    left.plot(thresholds, [c.me_f1 for c in curve], "s-", color="tab:green", label="ME F1")
    left.set_xlabel("threshold on P(ME) (--me-threshold)")
    left.set_ylabel("MEGC F1")
    left.set_ylim(0, 1)
    right = left.twinx()
    right.plot(thresholds, [c.false_me_per_minute for c in curve], "^--", color="tab:red", label="false MEs / min")
    right.axhline(1.0, color="tab:red", linewidth=0.8, linestyle=":")
    right.set_ylabel("false MEs a minute")
    left.axvline(best.threshold, color="grey", linewidth=0.8)
    left.set_title("learned ME scorer on the tuning people, each left out once (grey: the default)", fontsize=9)
    (mine, names), (theirs, more) = left.get_legend_handles_labels(), right.get_legend_handles_labels()
    left.legend(mine + theirs, names + more, loc="upper right", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())


@dataclass(frozen=True)
class MeScorerFit:
    weights: np.ndarray  # (features,): on the raw features (the standardisation folded in), 0 where unread
    bias: float
    choice: Choice
    people: int
    candidates: int
    positives: int


def fit(videos: Sequence[VideoCandidates], choice: Choice) -> MeScorerFit:
    """The chosen model fitted on every tuning person, its standardisation folded into the weights."""
    from threadpoolctl import threadpool_limits

    n = next(v.features.shape[1] for v in videos if len(v.candidates))
    cols = columns(choice.feature_set, n)
    with_candidates = [v for v in videos if len(v.candidates)]
    x = np.concatenate([v.features[:, cols] for v in with_candidates])
    y = np.concatenate([v.labels() for v in with_candidates])
    with threadpool_limits(1):
        model = _model(choice.c).fit(x, y)
    scaler, regression = model[0], model[-1]
    w = regression.coef_[0] / scaler.scale_
    weights = np.zeros(n, np.float32)
    weights[cols] = w
    bias = float(regression.intercept_[0] - (w * scaler.mean_).sum())
    return MeScorerFit(weights, bias, choice, len({v.person for v in videos}), len(y), int(y.sum()))


def write_onnx(path: Path, model: MeScorerFit, spotter: dict[str, float], trained_on: str) -> Path:
    """P(ME) = sigmoid(candidate @ w + b) as ONNX (input ``candidate`` (1, n), output ``me`` (1, 1)); the
    threshold, the candidates' spotter and what it was trained on in its metadata; written atomically."""
    from train.logistic_onnx import write_logistic_onnx

    choice = model.choice
    spotter_config = SpotterConfig(**spotter)  # type: ignore[arg-type]
    metadata = {
        "threshold": f"{choice.threshold:.2f}",
        "C": str(choice.c),
        "features": choice.feature_set,
        "feature_names": ",".join((*SCALARS, *map_names(spotter_config.cells, spotter_config.margin_cells))),
        "candidate_spotter": json.dumps(spotter, sort_keys=True),
        "overall_f1_leave_one_person_out": f"{choice.overall_f1:.4f}",
        "me_f1_leave_one_person_out": f"{choice.me_f1:.4f}",
        "false_me_per_minute_leave_one_person_out": f"{choice.false_me_per_minute:.2f}",
        "people": str(model.people),
        "candidates": str(model.candidates),
        "positives": str(model.positives),
        "trained_on": trained_on,
    }
    return write_logistic_onnx(path, model.weights, model.bias, ("candidate", "me"), metadata)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/me-scorer"))
    parser.add_argument("--install", action="store_true", help=f"write the chosen model to {MODEL}")
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        choices=list(CANDIDATE_SPOTTERS),
        help="candidate spotters (default: all)",
    )
    args = parser.parse_args()
    from mpt_edge.io import default_cache
    from train.data.drawn_long import TUNING_DRAWN_SETS, drawn_set
    from train.data.realface.long_videos import ensure_long_videos

    args.out.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    roots = [
        ensure_long_videos(None, 9, 40.0, 1, style="conversation", people="tuning"),
        ensure_long_videos(None, 9, 120.0, 2, style="conversation", people="tuning"),
        *(drawn_set(default_cache() / name, **options) for name, options in TUNING_DRAWN_SETS.items()),
    ]
    sets: dict[str, list[VideoCandidates]] = {}
    for name in args.only or list(CANDIDATE_SPOTTERS):
        sets[name] = []
        spotter = SpotterConfig(learned_me=True, **CANDIDATE_SPOTTERS[name])  # type: ignore[arg-type]
        for root in roots:
            cache = args.out / f"candidates-{root.name}-{name.replace(' ', '').replace(',', '-')}.npz"
            tick = lambda who, name=name: print(f"{name}: {who}", flush=True)  # noqa: E731
            sets[name] += set_candidates(root, spotter, cache, tick)
    rules: list[VideoCandidates] = []  # today's rules on the same videos: the comparison
    for root in roots:
        rules += set_candidates(root, SpotterConfig(**RULES), args.out / f"candidates-{root.name}-rules.npz")  # type: ignore[arg-type]
    real = [v for v in rules if not v.drawn]
    overall, me, false = _score(real, [np.ones(len(v.candidates), bool) for v in real])
    drawn = [v for v in rules if v.drawn]
    drawn_me = _score(drawn, [np.ones(len(v.candidates), bool) for v in drawn])[1]
    choices = choose(sets)
    best = choices[0]
    model = fit(sets[best.candidates], best)
    trained_on = f"{' + '.join(root.name for root in roots)} ({model.people} tuning people)"
    candidate_spotter = CANDIDATE_SPOTTERS[best.candidates]
    written = [write_onnx(args.out / MODEL.name, model, candidate_spotter, trained_on)]
    if args.install:
        written.append(write_onnx(MODEL, model, candidate_spotter, trained_on))
    from mpt_edge.io import atomic_write_bytes
    from mpt_edge.precision import cpu_model_and_flags

    curve = tradeoff(choices, best)
    plot_tradeoff(args.out / "tradeoff.png", curve, best)
    summary = {
        "rules": {
            "overall_f1": round(overall, 4),
            "me_f1": round(me, 4),
            "false_me_per_minute": round(false, 2),
            "drawn_me_f1": round(drawn_me, 4),
        },
        "chosen": best.__dict__,
        "false_me_bound": FALSE_ME_BOUND,
        "best_per_candidates": {
            f"{name}, {features}": ranked([c for c in choices if c.candidates == name and c.feature_set == features])[
                0
            ].__dict__
            for name in sets
            for features in FEATURE_SETS
        },
        "tradeoff": [c.__dict__ for c in curve],
        "candidates": model.candidates,
        "positives": model.positives,
        "written": [str(p) for p in written],
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "cpu": f"{cpu_model_and_flags()[0]} ({os.cpu_count()} cores)",
    }
    atomic_write_bytes(args.out / "choice.json", (json.dumps(summary, indent=2) + "\n").encode())
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
