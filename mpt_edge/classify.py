"""One aligned onset/apex pair -> class scores: the step the live pipeline runs at each event and
``Bundle.predict`` runs on demand (one copy of the softmax and the feeds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpt_edge.engines import Engine
from mpt_edge.motion.config import MotionConfig
from mpt_edge.preprocess import model_inputs


@dataclass(frozen=True)
class Prediction:
    """The model's class for one onset/apex pair, with every class's probability."""

    label: str
    scores: dict[str, float]


def feeds_of(
    motion: MotionConfig, input_names: Sequence[str], onset_crop: np.ndarray, apex_crop: np.ndarray
) -> dict[str, np.ndarray]:
    """Magnify and tokenize two aligned face crops into the engine's named inputs (batch 1)."""
    image, prompts = model_inputs(onset_crop, apex_crop, motion)
    feeds = {"apex": image[None], "motion": prompts[None]}
    return {k: v for k, v in feeds.items() if k in input_names}


def predict_feeds(engine: Engine, feeds: dict[str, np.ndarray], class_names: Sequence[str]) -> Prediction:
    """Run the engine; softmax over its logits."""
    logits = engine.infer(feeds)[0]
    scores = np.exp(logits - logits.max())
    scores /= scores.sum()
    return Prediction(
        class_names[int(np.argmax(scores))], {n: round(float(s), 4) for n, s in zip(class_names, scores, strict=True)}
    )
