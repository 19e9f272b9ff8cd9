"""Onset/apex pairs in memory and the augmentations that keep their geometry consistent.

Clips are decoded once into face-size uint8 pairs. Model inputs always come from
:func:`mpt_edge.preprocess.model_inputs` — the function the runtime uses — so an augmented pair is
augmented *as frames* (one random flip/affine/gain applied identically to onset and apex) and its
motion prompts are recomputed, never edited as features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mpt_edge.motion.config import MotionConfig
from mpt_edge.preprocess import fit_face, model_inputs
from train.data.clips import ClipRecord, load_pair
from train.metrics import Labels


@dataclass
class PairSet:
    onsets: np.ndarray  # (N, S, S, 3) uint8 BGR
    apexes: np.ndarray  # (N, S, S, 3) uint8 BGR
    labels: np.ndarray  # (N,) int64
    subjects: list[str]
    keys: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int]) -> PairSet:
        idx = np.asarray(indices, dtype=np.int64)
        return PairSet(
            self.onsets[idx],
            self.apexes[idx],
            self.labels[idx],
            [self.subjects[i] for i in idx],
            [self.keys[i] for i in idx],
        )


def load_pairs(records: Sequence[ClipRecord], face_size: int, on_pair: Callable[[], None] | None = None) -> PairSet:
    """Decode the onset/apex frames of every record, resized to the model's face size."""
    onsets = np.empty((len(records), face_size, face_size, 3), np.uint8)
    apexes = np.empty_like(onsets)
    for i, record in enumerate(records):
        onset, apex = load_pair(record)
        onsets[i] = fit_face(onset, face_size)
        apexes[i] = fit_face(apex, face_size)
        if on_pair:
            on_pair()
    labels = np.array([r.label for r in records], dtype=np.int64)
    return PairSet(onsets, apexes, labels, [r.subject for r in records], [r.key for r in records])


def augment_pair(onset: np.ndarray, apex: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random geometric + photometric change applied identically to both frames: horizontal
    flip, rotation +-5 deg, scale 0.95..1.05, shift +-4 % of the face, gain 0.9..1.1. Being the same
    for onset and apex, it never creates or removes onset->apex motion."""
    size = onset.shape[0]
    flip = rng.random() < 0.5
    angle = rng.uniform(-5.0, 5.0)
    scale = rng.uniform(0.95, 1.05)
    shift = rng.uniform(-0.04, 0.04, 2) * size
    gain = rng.uniform(0.9, 1.1)
    matrix = cv2.getRotationMatrix2D((size / 2.0, size / 2.0), angle, scale)
    matrix[:, 2] += shift
    out = []
    for frame in (onset, apex):
        if flip:
            frame = frame[:, ::-1]
        warped = cv2.warpAffine(
            np.ascontiguousarray(frame), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        out.append(np.clip(warped.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return out[0], out[1]


def encode_pairs(
    pairs: PairSet,
    indices: Labels,
    config: MotionConfig,
    rng: np.random.Generator | None = None,
    mirror: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (apex images (B, 3, S, S), motion prompts (B, K, F)) for ``indices``; augmented
    when ``rng`` is given; mirrored (a reading, :func:`mpt_edge.preprocess.readings`) with ``mirror``."""
    images = np.empty((len(indices), 3, config.face_size, config.face_size), np.float32)
    motion = np.empty((len(indices),) + config.token_shape, np.float32)
    for row, i in enumerate(indices):
        onset, apex = pairs.onsets[i], pairs.apexes[i]
        if rng is not None:
            onset, apex = augment_pair(onset, apex, rng)
        images[row], motion[row] = model_inputs(onset, apex, config, mirror)
    return images, motion


def motion_features(
    pairs: PairSet,
    indices: Labels,
    config: MotionConfig,
    rng: np.random.Generator | None = None,
    chunk: int = 64,
) -> np.ndarray:
    """(len(indices), K, F) motion prompts, in chunks (the apex images that :func:`encode_pairs` also
    makes are dropped at once): un-augmented, the training statistics the model standardises with and
    the linear probe's features; with ``rng``, augmented copies to solve the prompt read-out on."""
    indices = np.asarray(indices, dtype=np.int64)
    out = np.empty((len(indices),) + config.token_shape, np.float32)
    for start in range(0, len(indices), chunk):
        out[start : start + chunk] = encode_pairs(pairs, indices[start : start + chunk], config, rng)[1]
    return out
