"""Train the spotter's talking recogniser (:mod:`mpt_edge.spotting.talking`) on the tuning people's
conversation videos and write it as the ONNX model the device runs.

    python -m train.talking_scorer                      # the 9 tuning people, 40 s each (renders them once)
    python -m train.talking_scorer --out /tmp/talking.onnx --subjects 3 --seconds 20

Every choice is made on the tuning people only, each left out once (leave-one-person-out): the
regularisation C, then the threshold on P(talking) with the best frame F1 over the left-out people's
predictions. The held-out people of ``benchmarks/spotting_table.py`` are never read here. The features
come from the same :class:`~mpt_edge.spotting.talking.TalkingFeatures` the spotter runs, on the same
registered faces (the stream pipeline's, every frame, the crop's re-takes registered).

The drawn faces of :data:`~train.data.drawn_long.TUNING_DRAWN_SETS` (they never talk) are in every training
fold as negatives (``--no-drawn`` leaves them out): a model that never saw one read a drawn face as talking
48-64 % of the time. Each drawn video's share of frames read as talking, by a model that never saw it, is
reported beside the real people's AUC and F1.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpt_edge.spotting.talking import MODEL, TalkingFeatures

C_GRID = (0.003, 0.01, 0.03, 0.1)
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.2, 0.81, 0.05))


Videos = list[tuple[str, np.ndarray, np.ndarray]]  # (person, (frames, 144) features, talking per frame)


@dataclass(frozen=True)
class TalkingFit:
    weights: np.ndarray  # (features,)
    bias: float
    threshold: float
    c: float
    auc_left_out: float  # mean over the people left out, at the chosen C
    f1_left_out: float  # frame F1 at the chosen threshold, pooled over the left-out predictions
    people: int
    drawn_talking_share: tuple[float, ...] = ()  # each drawn video's frames read as talking, that video left out


def video_features(folder: Path, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, (n, 144) features) of one video, through the stream pipeline's registered faces."""
    from mpt_edge.spotting.spotter import SpotterConfig, face_signal
    from mpt_edge.stream.pipeline import PipelineConfig
    from mpt_edge.stream.session import StreamSession

    config = SpotterConfig()
    features = TalkingFeatures(config.cells, config.highpass_sigma)
    indices, rows = [], []
    with StreamSession(None, None, str(folder), PipelineConfig(), fps=fps, queue_size=32) as session:
        pipeline = session.pipeline
        for frame, _ in session.frames():
            if not pipeline.last_frame_had_face or pipeline.last_crop is None:
                continue
            row = features.update(frame.index, face_signal(pipeline.last_crop, config.size), pipeline.crop_shift)
            if row is not None:
                indices.append(frame.index)
                rows.append(row[0])
    return np.asarray(indices, int), np.asarray(rows, np.float32)


def set_features(root: Path, on_video: Callable[[str], None] = lambda _: None) -> Videos:
    """(person, features, talking labels) per video of a real-face long-video set."""
    meta = json.loads((root / "realface_long.json").read_text())
    out = []
    for video in meta["videos"]:
        on_video(video["identity"])
        folder = next((root / "rawpic").glob(f"s{video['code']}/*"))
        indices, rows = video_features(folder, 30.0)
        truth = np.zeros(int(video["frames"]) + 1, bool)
        for start, end, *_ in video["talking"]:
            truth[start : end + 1] = True
        out.append((str(video["identity"]), rows, truth[indices]))
    return out


def drawn_features(root: Path, on_video: Callable[[str], None] = lambda _: None) -> Videos:
    """(video, features, all False) per video of a drawn-face set in which a face is found (drawn faces never
    talk)."""
    from train.data.drawn_long import drawn_person
    from train.data.long_videos import read_long_videos

    out = []
    for video in read_long_videos("casme_sq", root).videos:
        on_video(video.subject)
        _, rows = video_features(video.folder, video.fps)
        if len(rows):
            out.append((drawn_person(root, video.subject), rows, np.zeros(len(rows), bool)))
    return out


def fit(videos: Videos, negatives: Videos | None = None) -> TalkingFit:
    """C and the threshold chosen leaving one person of ``videos`` out at a time, ``negatives`` (drawn faces) in
    every training fold; then the fit on everyone."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    negatives = negatives or []
    people = sorted({p for p, *_ in videos})
    x = np.concatenate([f for _, f, _ in videos])
    y = np.concatenate([t for *_, t in videos])
    groups = np.concatenate([[p] * len(t) for p, _, t in videos])
    x_neg = np.concatenate([f for _, f, _ in negatives]) if negatives else np.zeros((0, x.shape[1]), x.dtype)
    y_neg = np.zeros(len(x_neg), bool)
    best: tuple[float, float, np.ndarray] | None = None
    with threadpool_limits(1):
        for c in C_GRID:
            predicted = np.zeros(len(y))
            aucs = []
            for person in people:
                test = groups == person
                model = LogisticRegression(C=c, max_iter=3000).fit(
                    np.concatenate([x[~test], x_neg]), np.concatenate([y[~test], y_neg])
                )
                predicted[test] = model.predict_proba(x[test])[:, 1]
                aucs.append(roc_auc_score(y[test], predicted[test]))
            if best is None or np.mean(aucs) > best[0]:
                best = (float(np.mean(aucs)), c, predicted)
        assert best is not None
        auc, c, predicted = best
        f1s = {t: _f1(predicted >= t, y) for t in THRESHOLDS}
        threshold = max(f1s, key=lambda t: (f1s[t], -abs(t - 0.5)))
        shares = []
        for k, (_, rows, _) in enumerate(negatives):
            others = [f for j, (_, f, _) in enumerate(negatives) if j != k]
            x_fit = np.concatenate([x, *others])
            y_fit = np.concatenate([y, np.zeros(len(x_fit) - len(y), bool)])
            left_out = LogisticRegression(C=c, max_iter=3000).fit(x_fit, y_fit)
            shares.append(round(float((left_out.predict_proba(rows)[:, 1] >= threshold).mean()), 4))
        model = LogisticRegression(C=c, max_iter=3000).fit(np.concatenate([x, x_neg]), np.concatenate([y, y_neg]))
    return TalkingFit(
        model.coef_[0].astype(np.float32),
        float(model.intercept_[0]),
        threshold,
        c,
        auc,
        f1s[threshold],
        len(people),
        tuple(shares),
    )


def _f1(said: np.ndarray, truth: np.ndarray) -> float:
    tp = float((said & truth).sum())
    return 2 * tp / (said.sum() + truth.sum()) if said.sum() + truth.sum() else 0.0


def write_onnx(path: Path, model: TalkingFit, trained_on: str) -> Path:
    """P(talking) = sigmoid(cells @ w + b) as ONNX (input ``cells`` (1, n), output ``talking`` (1, 1)), the
    threshold and what it was trained on in its metadata; written atomically."""
    from train.logistic_onnx import write_logistic_onnx

    metadata = {
        "threshold": f"{model.threshold:.2f}",
        "C": str(model.c),
        "auc_leave_one_person_out": f"{model.auc_left_out:.4f}",
        "frame_f1_leave_one_person_out": f"{model.f1_left_out:.4f}",
        "people": str(model.people),
        "drawn_talking_share_left_out": ",".join(f"{v:.3f}" for v in model.drawn_talking_share),
        "trained_on": trained_on,
    }
    return write_logistic_onnx(path, model.weights, model.bias, ("cells", "talking"), metadata)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL)
    parser.add_argument("--root", type=Path, default=None, help="a real-face long-video set (default: rendered)")
    parser.add_argument("--subjects", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-drawn", action="store_true", help="leave the drawn faces (negatives) out")
    args = parser.parse_args()
    from mpt_edge.io import default_cache
    from train.data.drawn_long import TUNING_DRAWN_SETS, drawn_set
    from train.data.realface.long_videos import ensure_long_videos

    started, cpu = time.perf_counter(), time.process_time()
    root = args.root or ensure_long_videos(
        None, args.subjects, args.seconds, args.seed, style="conversation", people="tuning"
    )
    videos = set_features(root, lambda who: print(f"features: {who}", flush=True))
    negatives: Videos = []
    drawn_roots = [] if args.no_drawn else [drawn_set(default_cache() / n, **o) for n, o in TUNING_DRAWN_SETS.items()]
    for drawn_root in drawn_roots:
        tick = lambda who, name=drawn_root.name: print(f"features: {name} {who}", flush=True)  # noqa: E731
        negatives += drawn_features(drawn_root, tick)
    model = fit(videos, negatives)
    trained_on = " + ".join([root.name, *(r.name for r in drawn_roots)])
    negatives_said = ", drawn faces as negatives" if drawn_roots else ""
    write_onnx(args.out, model, f"{trained_on} ({model.people} tuning people{negatives_said})")
    print(
        json.dumps(
            {
                "out": str(args.out),
                "C": model.c,
                "threshold": model.threshold,
                "auc_leave_one_person_out": round(model.auc_left_out, 4),
                "frame_f1_leave_one_person_out": round(model.f1_left_out, 4),
                "drawn_talking_share_left_out": model.drawn_talking_share,
                "wall_s": round(time.perf_counter() - started, 1),
                "cpu_s": round(time.process_time() - cpu, 1),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
