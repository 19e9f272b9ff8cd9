"""A learned talking recogniser: a logistic regression over the face's frame-to-frame motion in each of
the spotter's cells, run as a tiny ONNX model (``talking.onnx`` beside this module) by onnxruntime — the
runtime every install already has, no torch.

Why learned: talking moves the lips, the jaw and the cheeks by fractions of a pixel at the spotter's
96 px, differently for every person, and a rule on the mouth's cells (rises of their energy counted as
syllables) recognised a quarter of the talking in the tuning people's conversations. A linear read-out
of all 144 cells' motion, trained on the tuning people's conversation videos and scored on people left
out one at a time, separates talking frames from the rest at AUC 0.94 (the mouth cells' motion alone:
0.83); ``python -m train.talking_scorer`` trains it (docs "Spotting" has the figures).

Features, per frame: the high-passed small face minus the one ``LAG`` frames before, its absolute cell
means, followed by an exponential average (``RATE``: ~0.4 s) and taken as logs, less their mean over the
face's inner cells — where the face moves, not how much the camera, its compression or the face's
contrast make every cell move (the same AUC on the tuning people, 0.944 against 0.943 with absolute
levels, and a drawn test face with its hard edges no longer reads as talking all the time). Normalising
each cell per person instead (a running low quantile) was measured and lost (AUC 0.89).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mpt_edge.spotting.learned import session_and_threshold

LAG = 2  # frames between the two faces compared
RATE = 0.15  # the exponential average of the cells' motion (half-life ~4 frames)
FLOOR = 1e-5  # log floor: a perfectly still cell
MARGIN = 2  # cells along the crop's edges: background and outline, left out of the face's mean
MODEL = Path(__file__).with_name("talking.onnx")


def cell_motion(small: np.ndarray, before: np.ndarray, cells: int, sigma: float) -> np.ndarray:
    """(cells * cells,) float32: each cell's mean |high-passed (small - before)|."""
    diff = cv2.subtract(small, before)
    diff = cv2.absdiff(diff, cv2.GaussianBlur(diff, (0, 0), sigma))
    cell = small.shape[0] // cells
    whole = diff[: cells * cell, : cells * cell]
    return np.asarray(cv2.resize(whole, (cells, cells), interpolation=cv2.INTER_AREA)).ravel()  # cell means


class TalkingFeatures:
    """The recogniser's input, frame by frame (what the model was trained on: :mod:`train.talking_scorer`
    reads the same object)."""

    def __init__(self, cells: int = 12, sigma: float = 3.0) -> None:
        self.cells, self.sigma = cells, sigma
        inner = np.zeros((cells, cells), bool)
        inner[MARGIN : cells - MARGIN, MARGIN : cells - MARGIN] = True
        self.inner = inner.ravel()
        self.history: deque[tuple[int, np.ndarray]] = deque(maxlen=LAG + 1)
        self.average: np.ndarray | None = None
        self.last: np.ndarray | None = None  # (1, cells * cells) log features, None until the first pair

    def update(self, index: int, small: np.ndarray, crop_shift: np.ndarray | None = None) -> np.ndarray | None:
        """``crop_shift``: how far (small px, x and y) the face moved in the registered crops since the last
        frame because the crop was re-taken (the stream pipeline following the head): the faces kept are moved
        with it, so a pair compares the face in one registration. Without it, a re-take's sub-pixel shift of
        the face's sharp edges reads as motion — at 720p the drawn test face talked 70 % of the time."""
        if crop_shift is not None and self.history:
            shift = np.array([[1.0, 0.0, crop_shift[0]], [0.0, 1.0, crop_shift[1]]], np.float32)
            border = cv2.BORDER_REPLICATE
            kept = [(i, cv2.warpAffine(s, shift, s.shape[::-1], borderMode=border)) for i, s in self.history]
            self.history = deque(kept, maxlen=self.history.maxlen)
        self.history.append((index, small))
        before = next((s for i, s in self.history if i == index - LAG), None)
        if before is not None:
            motion = cell_motion(small, before, self.cells, self.sigma)
            self.average = motion if self.average is None else (1 - RATE) * self.average + RATE * motion
        if self.average is None:
            return None
        logs = np.log(self.average + FLOOR)
        self.last = (logs - logs[self.inner].mean()).astype(np.float32)[None, :]
        return self.last


@dataclass
class Hysteresis:
    """On once the probability has stayed at or over ``threshold`` for ``confirm`` frames (a brief
    expression at the mouth raises it for a moment; a spell lasts 2-10 s); off under ``off`` x it."""

    threshold: float
    confirm: int
    off: float = 0.7
    on: bool = False
    since: int | None = None  # the first frame of the current run over the threshold

    def update(self, index: int, probability: float) -> bool:
        if self.on:
            self.on = probability >= self.off * self.threshold
            if not self.on:
                self.since = None
        elif probability >= self.threshold:
            self.since = index if self.since is None else self.since
            self.on = index - self.since + 1 >= self.confirm
        else:
            self.since = None
        return self.on


class TalkingRecogniser:
    """P(talking) per frame from :class:`TalkingFeatures` through the ONNX model, read twice: ``spells``
    at the model's own threshold (chosen with it for the best frame F1: where the person talked, for the
    report) and ``explains`` at the spotter's (chosen on the tuning people for the best MEGC F1: when the
    mouth's motion is taken for talking and left out; stricter, so that an expression at the mouth is not)."""

    def __init__(
        self,
        cells: int = 12,
        sigma: float = 3.0,
        model: Path = MODEL,
        explain_threshold: float | None = None,
        explain_confirm: int = 12,
        spell_confirm: int = 12,
    ) -> None:
        self.features = TalkingFeatures(cells, sigma)
        self.session, own = session_and_threshold(model)
        self.spells = Hysteresis(own, spell_confirm)
        self.explains = Hysteresis(own if explain_threshold is None else explain_threshold, explain_confirm)
        self.probability = 0.0

    @property
    def talking(self) -> bool:
        return self.spells.on

    def update(self, index: int, small: np.ndarray, crop_shift: np.ndarray | None = None) -> bool:
        features = self.features.update(index, small, crop_shift)
        if features is None:
            return self.talking
        (output,) = self.session.run(None, {"cells": features})  # type: ignore[attr-defined]
        self.probability = float(np.asarray(output).ravel()[0])
        self.explains.update(index, self.probability)
        return self.spells.update(index, self.probability)
