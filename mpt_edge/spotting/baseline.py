"""The field's spotting baseline: LBP feature difference with chi-squared distances (Moilanen, Zhao and
Pietikäinen, ICPR 2014), the method of the MEGC 2019-2021 spotting baselines.

For every frame (the aligned face, gray):

1. the face is cut into a ``grid`` x ``grid`` block grid (6 x 6), and each block is described by its
   histogram of uniform LBP codes (8 neighbours at radius 1: 59 bins);
2. with ``k = (N - 1) / 2`` for an interval of ``N`` frames (the expressions' mean length), the *feature
   difference* of the current frame is the chi-squared distance of each block's histogram to the mean of the
   histograms of frames ``i - k`` (tail) and ``i + k`` (head); the frame's value is the mean of its largest
   third of block distances (12 of 36);
3. the *contrast* ``C_i = F_i - (F_{i-k} + F_{i+k}) / 2`` (negatives set to 0) keeps what stands out of its
   neighbourhood;
4. peaks of ``C`` above ``T = mean(C) + p (max(C) - mean(C))``, at least ``k`` frames apart, are spotted; each
   becomes the interval ``[peak - k, peak + k]``.

Macro-expressions are spotted the same way with their own, longer ``N`` (as MEGC 2020-2021 entries built on
this baseline did). ``N`` defaults to the durations the field reports at 30 frames/s (ME ≈ 0.3 s, MaE ≈ 1.3 s),
scaled to the video's frame rate; ``p`` is the baseline's one free parameter: docs "Spotting" reports it
over a sweep and scores the baseline at its best, so ours is compared with the baseline's best case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mpt_edge.spotting.intervals import Interval

GRID = 6
BINS = 59  # uniform LBP (P = 8): 58 uniform patterns + one bin for the rest
ME_SECONDS, MAE_SECONDS = 0.3, 1.3
DEFAULT_P = 0.3


@lru_cache(maxsize=1)
def _uniform_table() -> np.ndarray:
    """LBP code (0..255) -> bin: each uniform pattern (at most 2 transitions in the circle) its own bin."""
    table = np.full(256, BINS - 1, np.int64)
    index = 0
    for code in range(256):
        bits = [(code >> k) & 1 for k in range(8)]
        transitions = sum(bits[k] != bits[(k + 1) % 8] for k in range(8))
        if transitions <= 2:
            table[code] = index
            index += 1
    assert index == BINS - 1
    return table


def lbp_histograms(gray: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(grid * grid, 59) normalised uniform-LBP histograms of one gray face (radius 1, 8 neighbours)."""
    image = np.asarray(gray, np.float32)
    centre = image[1:-1, 1:-1]
    offsets = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
    codes = np.zeros(centre.shape, np.int64)
    height, width = image.shape
    for bit, (dy, dx) in enumerate(offsets):
        neighbour = image[1 + dy : height - 1 + dy, 1 + dx : width - 1 + dx]
        codes |= (neighbour >= centre).astype(np.int64) << bit
    bins = _uniform_table()[codes]
    h, w = bins.shape
    bh, bw = h // grid, w // grid
    blocks = (
        bins[: bh * grid, : bw * grid].reshape(grid, bh, grid, bw).transpose(0, 2, 1, 3).reshape(grid * grid, bh * bw)
    )
    histograms = np.zeros((grid * grid, BINS), np.float32)
    rows = np.repeat(np.arange(grid * grid), bh * bw)
    np.add.at(histograms, (rows, blocks.ravel()), 1.0)
    return histograms / float(bh * bw)


def chi_squared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-block chi-squared distance of histograms (last axis)."""
    total = a + b
    return np.asarray(np.where(total > 0, (a - b) ** 2 / np.maximum(total, 1e-12), 0.0).sum(-1))


def feature_difference(histograms: np.ndarray, k: int) -> np.ndarray:
    """F_i for every frame (0 where i - k or i + k is outside the video)."""
    frames = len(histograms)
    values = np.zeros(frames, np.float64)
    blocks = histograms.shape[1]
    top = max(1, blocks // 3)
    for i in range(k, frames - k):
        average = 0.5 * (histograms[i - k] + histograms[i + k])
        distances = np.sort(chi_squared(histograms[i], average))[::-1]
        values[i] = distances[:top].mean()
    return values


def contrast(values: np.ndarray, k: int) -> np.ndarray:
    """C_i, defined where F_{i-k} and F_{i+k} are (0 within 2k frames of either end)."""
    out = np.zeros_like(values)
    if len(values) > 4 * k:
        out[2 * k : -2 * k] = values[2 * k : -2 * k] - 0.5 * (values[3 * k : -k] + values[k : -3 * k])
    return np.asarray(np.maximum(out, 0.0))


def peaks(signal: np.ndarray, threshold: float, distance: int) -> list[int]:
    """Local maxima above ``threshold``, greedily the highest first, at least ``distance`` frames apart."""
    candidates = [
        i
        for i in range(1, len(signal) - 1)
        if signal[i] > threshold and signal[i] >= signal[i - 1] and signal[i] >= signal[i + 1]
    ]
    chosen: list[int] = []
    for i in sorted(candidates, key=lambda j: -signal[j]):
        if all(abs(i - j) >= distance for j in chosen):
            chosen.append(i)
    return sorted(chosen)


@dataclass(frozen=True)
class BaselineSignal:
    kind: str
    k: int
    contrast: np.ndarray

    def intervals(self, p: float = DEFAULT_P) -> list[Interval]:
        c = self.contrast
        if not len(c) or float(c.max()) <= 0:
            return []
        threshold = float(c.mean()) + p * (float(c.max()) - float(c.mean()))
        last = len(c) - 1
        return [
            Interval(max(0, i - self.k), i, min(last, i + self.k), self.kind, float(c[i]))
            for i in peaks(c, threshold, self.k)
        ]


def half_window(seconds: float, fps: float) -> int:
    """k = (N - 1) / 2 for an interval of ``seconds`` at ``fps`` (N made odd)."""
    frames = max(3, int(round(seconds * fps)))
    frames += 1 - frames % 2
    return (frames - 1) // 2


def baseline_signals(histograms: Sequence[np.ndarray], fps: float) -> list[BaselineSignal]:
    """The ME and MaE contrast signals of one video's per-frame LBP histograms."""
    stacked = np.asarray(histograms, np.float32)
    signals = []
    for kind, seconds in (("ME", ME_SECONDS), ("MaE", MAE_SECONDS)):
        k = half_window(seconds, fps)
        signals.append(BaselineSignal(kind, k, contrast(feature_difference(stacked, k), k)))
    return signals


def combine(me: BaselineSignal, mae: BaselineSignal, p: float = DEFAULT_P) -> list[Interval]:
    """Intervals the baseline spots at ``p``: ME and MaE, an ME peak inside a spotted MaE left to the MaE."""
    macro = mae.intervals(p)
    micro = [i for i in me.intervals(p) if not any(m.onset <= i.apex <= m.offset for m in macro)]
    return sorted(micro + macro, key=lambda i: i.onset)


def spot_baseline(histograms: Sequence[np.ndarray], fps: float, p: float = DEFAULT_P) -> list[Interval]:
    """Intervals the baseline spots in one video's per-frame LBP histograms."""
    me, mae = baseline_signals(histograms, fps)
    return combine(me, mae, p)
