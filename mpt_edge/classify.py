"""One aligned onset/apex pair -> class scores: the step the live pipeline runs at each event and
``Bundle.predict`` runs on demand (one copy of the softmax, the feeds and how readings combine)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpt_edge.engines import Engine
from mpt_edge.motion.config import MotionConfig
from mpt_edge.preprocess import model_readings


@dataclass(frozen=True)
class Prediction:
    """The model's class for one onset/apex pair, with every class's probability."""

    label: str
    scores: dict[str, float]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of (B, classes) logits, row by row."""
    values = np.asarray(logits, np.float64)
    exponent: np.ndarray = np.exp(values - values.max(axis=1, keepdims=True))
    probabilities: np.ndarray = exponent / exponent.sum(axis=1, keepdims=True)
    return probabilities


def feeds_of(
    motion: MotionConfig, input_names: Sequence[str], onset_crop: np.ndarray, apex_crop: np.ndarray
) -> list[dict[str, np.ndarray]]:
    """Magnify and tokenize two aligned face crops into the engine's named inputs (batch 1), one feed
    per reading (the pair as it is, and mirrored where ``motion.read_mirrored``)."""
    feeds = []
    for image, prompts in model_readings(onset_crop, apex_crop, motion):
        named = {"apex": image[None], "motion": prompts[None]}
        feeds.append({k: v for k, v in named.items() if k in input_names})
    return feeds


def predict_feeds(engine: Engine, feeds: Sequence[dict[str, np.ndarray]], class_names: Sequence[str]) -> Prediction:
    """Run the engine on every reading; the mean of their softmax over the logits."""
    scores = np.mean([softmax(engine.infer(feed))[0] for feed in feeds], axis=0)
    return Prediction(
        class_names[int(np.argmax(scores))], {n: round(float(s), 4) for n, s in zip(class_names, scores, strict=True)}
    )
