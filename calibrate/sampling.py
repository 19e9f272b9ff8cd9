"""Calibration sets drawn from training data, stratified by class *and* subject, deterministic.

Quantization ranges must cover every expression and every face the model will see; a random draw
from a few hundred clips easily misses a rare class or over-represents a talkative subject. So clips
are grouped by (class, subject) and taken round-robin over the groups (each group in a seeded random
order) until ``size`` clips are chosen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from mpt_edge.errors import InputError
from train.metrics import Labels

DEFAULT_SIZE = 300
MIN_SIZE = 8


def check_size(size: int, option: str = "--size") -> None:
    """A calibration size too small for INT8 ranges is one line naming the option the user gave."""
    if size < MIN_SIZE:
        raise InputError(
            f"{option} {size} is too small a calibration set; use at least {MIN_SIZE} (default {DEFAULT_SIZE})"
        )


def stratified_indices(labels: Labels, subjects: Sequence[str], size: int = DEFAULT_SIZE, seed: int = 0) -> np.ndarray:
    """Indices of at most ``size`` clips, balanced over classes and subjects (all clips if fewer)."""
    label_array = np.asarray(labels)
    if len(labels) == 0:
        raise InputError("the calibration data is empty: no training clips to draw from; check --dataset/--root")
    if len(labels) != len(subjects):
        raise InputError(f"{len(labels)} labels but {len(subjects)} subjects")
    check_size(size)
    if len(labels) < MIN_SIZE:
        raise InputError(f"only {len(labels)} training clips for calibration; INT8 ranges need at least {MIN_SIZE}")
    rng = np.random.default_rng([seed, 2024])
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, (label, subject) in enumerate(zip(label_array.tolist(), subjects)):
        groups[(label, subject)].append(index)
    queues = [list(rng.permutation(members)) for _, members in sorted(groups.items())]
    order = rng.permutation(len(queues))
    chosen: list[int] = []
    while len(chosen) < min(size, len(labels)):
        for q in order:
            if queues[q] and len(chosen) < size:
                chosen.append(int(queues[q].pop()))
    return np.array(sorted(chosen), dtype=np.int64)
