"""Which subjects train and which are held out: holdout, leave-one-subject-out, or all (deployment).

Folds are named by their held-out subject (LOSO) so ``--folds`` can shard them across jobs that
share one output folder; the pooled metrics are recomputed from whatever fold results are there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mpt_edge.errors import MptEdgeError
from train.options import TEST_FRACTION

PROTOCOLS = ("holdout", "loso", "all")


@dataclass(frozen=True)
class Fold:
    index: int
    name: str  # "holdout", "all", or the held-out subject
    test_subjects: tuple[str, ...]
    val_subjects: tuple[str, ...]


def _validation(train: Sequence[str], count: int, seed: int, fold: int) -> tuple[str, ...]:
    if count <= 0:
        return ()
    if count >= len(train):
        raise MptEdgeError(f"--val-subjects {count} leaves no training subjects ({len(train)} available)")
    rng = np.random.default_rng([seed, fold, 7])
    return tuple(sorted(rng.choice(sorted(train), size=count, replace=False).tolist()))


def make_folds(
    subjects: Sequence[str], protocol: str, test_fraction: float = TEST_FRACTION, val_subjects: int = 0, seed: int = 0
) -> list[Fold]:
    """All folds of ``protocol`` over ``subjects`` (deterministic by ``seed``)."""
    unique = sorted(set(subjects))
    if protocol not in PROTOCOLS:
        raise MptEdgeError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if protocol == "all":
        return [Fold(0, "all", (), _validation(unique, val_subjects, seed, 0))]
    if len(unique) < 2:
        raise MptEdgeError(f"protocol {protocol} needs at least 2 subjects; the data has {len(unique)}")
    if protocol == "loso":
        folds = []
        for index, subject in enumerate(unique):
            train = [s for s in unique if s != subject]
            folds.append(Fold(index, subject, (subject,), _validation(train, val_subjects, seed, index)))
        return folds
    if not 0 < test_fraction < 1:
        raise MptEdgeError(f"--test-fraction {test_fraction} must lie strictly between 0 and 1")
    count = min(len(unique) - 1, max(1, math.ceil(test_fraction * len(unique))))
    rng = np.random.default_rng([seed, 1234])
    test = tuple(sorted(rng.choice(unique, size=count, replace=False).tolist()))
    train = [s for s in unique if s not in test]
    return [Fold(0, "holdout", test, _validation(train, val_subjects, seed, 0))]


def select_folds(folds: list[Fold], spec: str | None) -> list[Fold]:
    """``--folds``: ``K/N`` (the K-th of N round-robin shards, 1-based), or a comma list of fold
    indices (``0,3-5``) and subject names (``sub03``)."""
    if not spec:
        return folds
    spec = spec.strip()
    if "/" in spec:
        try:
            k, n = (int(v) for v in spec.split("/"))
        except ValueError:
            raise MptEdgeError(f"--folds {spec!r}: write a shard as K/N, e.g. 1/4") from None
        if not 1 <= k <= n:
            raise MptEdgeError(f"--folds {spec!r}: K must be 1..N")
        return [f for f in folds if f.index % n == k - 1]
    by_name = {f.name: f for f in folds}
    chosen: dict[int, Fold] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if part in by_name:
            chosen[by_name[part].index] = by_name[part]
            continue
        try:
            lo, _, hi = part.partition("-")
            indices = range(int(lo), int(hi or lo) + 1)
        except ValueError:
            raise MptEdgeError(
                f"--folds: {part!r} is neither a fold index nor a subject ({', '.join(f.name for f in folds[:6])}...)"
            ) from None
        for i in indices:
            if not 0 <= i < len(folds):
                raise MptEdgeError(f"--folds: fold {i} does not exist (0..{len(folds) - 1})")
            chosen[i] = folds[i]
    if not chosen:
        raise MptEdgeError(f"--folds {spec!r} selects no fold")
    return [chosen[i] for i in sorted(chosen)]
