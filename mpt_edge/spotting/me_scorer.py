"""A learned judge of micro-expression candidates: a logistic regression over what the spotter knows when an
ME candidate ends — how far it rose, how long it took, where on the face it peaked and how far its motion
spread, whether the face was talking or had just blinked, how far the head moved — run as a tiny ONNX model
(``me_scorer.onnx`` beside this module) by onnxruntime, like the talking recogniser: no torch on the device.

Why: the rules (a bar over the noise threshold, a higher one while the face talks, a blink's explanations)
weigh each clue alone, and on the tuning people's conversations 13 of 32 MEs never cross the bar while most
of what does is a syllable's or a blink's residue. Candidates come from a lower bar
(``SpotterConfig.me_candidate_ratio``) and the scorer keeps those whose P(ME) reaches the threshold chosen with
it (leaving one tuning person out at a time: ``python -m train.me_scorer``; docs "Spotting" has the figures).

Features (:data:`SCALARS`, then the onset -> apex cell map), per candidate, from :func:`candidate_features` —
the training side reads the same function, on the same pipeline, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.spotting.learned import session_and_threshold
from mpt_edge.spotting.spotter import cell_energies, regions_of

if TYPE_CHECKING:
    from mpt_edge.spotting.spotter import ApexSpotter, Spot

MODEL = Path(__file__).with_name("me_scorer.onnx")
CAP_S = 2.0  # seconds: a blink or a syllable further away than this is as good as none
SCALARS = (
    "log_peak_ratio",  # log(peak / threshold)
    "interval_s",  # onset .. offset
    "rise_s",  # onset .. apex
    "peak_in_mouth",
    "peak_beside_eyes",
    "log_eyes_over_peak",  # the eye cells' energy at the apex against the event's peak
    "talking",  # the reported talking (the learned recogniser's, else the syllable rule)
    "rule_talking",  # the syllable rule
    "p_talking",  # the talking recogniser's probability now (0 without one)
    "blink_distance_s",  # from the apex to the nearest blink onset, capped at CAP_S
    "syllable_distance_s",  # from the apex to the nearest syllable, capped at CAP_S
    "head_moved_px",  # the tracker's motion (crop px) between onset and apex, capped at 3
    "spread",  # share of the face's inner cells moving over half the apex's largest (onset -> apex)
    "log_map_peak_ratio",  # log(largest onset -> apex cell / threshold)
    "peak_at_corner",  # a lip corner moving beyond the talking lips' centre (SpotterConfig.talking_corners)
    "active_before",  # share of the last ACTIVE_S before the onset with the energy over the threshold
    "mouth_unrest",  # spread (std) of the mouth's energy / threshold over the last UNREST_S before the onset
)
# Was the face already busy before the candidate rose? A syllable's or a blink's residue comes out of a restless
# face, an ME out of a quiet one (or out of talking, which the mouth's unrest tells apart from other motion).
# Chosen on the tuning people, each left out (windows of 0.5-3 s measured; docs "Spotting").
ACTIVE_S = 1.0
UNREST_S = 1.5
FLOOR = 1e-6


def map_names(cells: int, margin: int) -> tuple[str, ...]:
    """Names of the onset -> apex cell map's features: the face's inner cells, row by row."""
    side = cells - 2 * margin
    return tuple(f"cell_{r}_{c}" for r in range(side) for c in range(side))


@dataclass(frozen=True)
class CandidateContext:
    """What the pipeline adds to the spotter's state: the candidate's registered onset and apex faces (small,
    as :func:`~mpt_edge.spotting.spotter.face_signal` gives them) and the tracker's motion between them."""

    onset_small: np.ndarray
    apex_small: np.ndarray
    head_moved_px: float


def candidate_features(spot: Spot, spotter: ApexSpotter, context: CandidateContext) -> np.ndarray:
    """(1, n) float32: the scalars of :data:`SCALARS`, then the onset -> apex map's inner cells as
    log(cell / threshold)."""
    config = spotter.config
    fps = config.fps
    threshold = max(spot.threshold, FLOOR)
    regions = regions_of(config)
    inner = regions["inner"]
    moving = cell_energies(context.apex_small, context.onset_small, config)
    allowed = inner & ~regions["eyes"]
    largest = float(moving[allowed].max())
    region = spotter.peak_region.get(spot.apex, "face")
    eyes = spotter.eye_energy.get(spot.apex, 0.0)
    behaviour = spotter.behaviour

    def distance(times: Iterable[int]) -> float:
        return min([CAP_S, *(abs(t - spot.apex) / fps for t in times)])

    def before(seconds: float) -> list[tuple[float, float]]:
        start = spot.onset - seconds * fps
        return [(energy, mouth) for i, energy, mouth in spotter.recent if start <= i < spot.onset]

    busy = [energy > 1.0 for energy, _ in before(ACTIVE_S)]
    mouth = [mouth for _, mouth in before(UNREST_S)]
    talk = spotter.talk
    scalars = [
        np.log(max(spot.score, FLOOR)),
        (spot.offset - spot.onset) / fps,
        (spot.apex - spot.onset) / fps,
        float(region == "mouth"),
        float(region == "eye_ring"),
        float(np.clip(np.log(max(eyes, FLOOR) / max(spot.peak_energy, FLOOR)), -5.0, 5.0)),
        float(behaviour.talking),
        float(behaviour.rule_talking),
        float(talk.probability) if talk is not None else 0.0,
        distance(behaviour.blinks),
        distance(behaviour.syllables),
        min(float(context.head_moved_px), 3.0),
        float((moving[allowed] > 0.5 * largest).mean()) if largest > 0 else 0.0,
        float(np.log(max(largest, FLOOR) / threshold)),
        float(region == "corner"),
        float(np.mean(busy)) if busy else 0.0,
        float(np.std(mouth)) if mouth else 0.0,
    ]
    cells = np.log(np.maximum(moving[inner], FLOOR) / threshold)
    return np.concatenate([np.asarray(scalars, np.float32), cells.astype(np.float32)])[None, :]


class MeScorer:
    """P(ME) of a candidate through the ONNX model; :meth:`keeps` at the model's own threshold (chosen with it)."""

    def __init__(self, model: Path = MODEL, threshold: float | None = None) -> None:
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError(f"ME threshold {threshold}: a probability, from 0 to 1 (default: the model's own)")
        self.session, own = session_and_threshold(model)
        self.threshold = own if threshold is None else threshold

    def probability(self, features: np.ndarray) -> float:
        (output,) = self.session.run(None, {"candidate": features})  # type: ignore[attr-defined]
        return float(np.asarray(output).ravel()[0])

    def keeps(self, features: np.ndarray) -> bool:
        return self.probability(features) >= self.threshold
