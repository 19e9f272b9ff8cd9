"""The streaming loop: frame -> face (detect small, follow cheaply) -> spotting on the registered
face -> magnification + Gaussian tokenization (the shared ``model_inputs``) on the registered
onset/apex crops -> engine -> event.

Face: detected on a copy of the frame at most ``detect_width`` px wide (``FaceAligner.align``), the
crop taken from the full-resolution frame. Between detections the face is *followed*: every frame
the crop is compared with the anchor face (the one seen when the crop was placed;
:mod:`mpt_edge.stream.tracking`), and when the face has moved by more than a few hundredths of a
pixel the crop is taken again, shifted by the tracked offset — so every crop shows the face where the
anchor had it (head motion compensated) and the spotter keeps running. The scheduled detections only
*check* the tracked face: a detection that disagrees (centre shift > ``move_fraction`` of its size,
or size change > 20 %) twice in a row, or a face the tracker lost, re-anchors the crop; only then
does the spotter restart (counted in ``crop_changes``). So detector jitter never restarts it, and a
face that jumps is re-anchored at once (tracker lost) or within two detections. No face: spotting
pauses and the gap is counted, never guessed at. Nothing is stored: crops live in a ring buffer of a
few frames.

Head movement: compensation leaves a residue while the head moves (the tracker is a few hundredths
of a pixel behind; the face is resampled at another sub-pixel phase). A spotted event whose onset and
apex differ by more than ``head_motion_px`` of tracked motion is therefore checked: the apex is
aligned on the onset exactly (ECC) and if that leaves less than ``head_motion_ratio`` x the event's
peak energy (or the event was weak and the move large), it was the head, not the face: counted in
``head_movements_suppressed``, not reported, and the spotter takes the moved face as its new neutral. A micro-expression
during a head movement
keeps its local motion after the alignment and is reported.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import cv2
import numpy as np

from mpt_edge.bundle import BundleFiles
from mpt_edge.classify import feeds_of, predict_feeds
from mpt_edge.engines import Engine
from mpt_edge.engines.triton import ServerUnavailable
from mpt_edge.errors import InputError
from mpt_edge.faces import LANDMARK_DETECTORS, resolve_detector
from mpt_edge.faces.align import Alignment, FaceAligner
from mpt_edge.spotting.behaviour import Span
from mpt_edge.spotting.me_scorer import MODEL as ME_SCORER_MODEL
from mpt_edge.spotting.me_scorer import CandidateContext, MeScorer, candidate_features
from mpt_edge.spotting.spotter import (
    ApexSpotter,
    Spot,
    SpotterConfig,
    cell_energies,
    face_signal,
    motion_energy,
    regions_of,
    rigid_pixels,
)
from mpt_edge.stream.events import Event
from mpt_edge.stream.sources import Frame
from mpt_edge.stream.tracking import CropTracker, TrackerConfig

STAGES = ("face", "spot", "magnify_tokenize", "infer")


@dataclass(frozen=True)
class PipelineConfig:
    detect_every: int = 15
    face_detector: str = (
        "auto"  # auto: the bundle's (what its training faces were aligned with), else the best installed
    )
    move_fraction: float = 0.1
    detect_width: int = 480  # px; faces of 1080p/4k frames are found on a copy this wide
    # Head movement or micro-expression (measured on the synthetic stream; see _is_head_movement):
    head_motion_px: float = 0.3  # tracked motion (crop px) between onset and apex that makes an event suspect
    head_motion_ratio: float = (
        0.45  # aligning apex on onset leaves < this x the peak: rigid (moves 0.06-0.40, MEs 0.48-0.98)
    )
    weak_peak_ratio: float = 2.0  # ... or a weak event (peak < this x threshold)
    large_move_px: float = 1.0  # ... during a move larger than this
    # A macro-expression whose apex lies this far (tracked crop px) from its onset is the head's move: a quick
    # turn or nod leaves the registered crop off while it lasts, and the face "comes back" when the tracker has
    # caught up. No alignment undoes that (rotation, blur: ECC left 0.8-1.05 of the peak). Tuning people: the false
    # MaEs at a quick move had their apex 4.4-7.2 px from the onset, the true ones 0.1-1.2 px; MEGC overall F1 on
    # 9 x 40 s / 9 x 120 s with 6-s macros: none 0.673 / 0.650, 2 px 0.722 / 0.651, 3 px 0.714 / 0.651 (docs
    # "Spotting"). A real smile while the head turns fast is lost with it. None: no such rule.
    macro_move_px: float | None = 2.0
    spotter: SpotterConfig = SpotterConfig()
    tracker: TrackerConfig = TrackerConfig()
    # Landmark layout: while a blink is open, measure the face's motion without the eyes (the lids' motion
    # is not the head's). Measured on the tuning people (docs "Spotting"): MEGC overall F1 0.226 (whole
    # face) -> 0.369 (without the eyes during blinks) / 0.400 (always without them), false MEs 8.3 -> 3.7 /
    # 4.3 a minute. Off by default: a face whose texture is mostly its eyes (the drawn test face) is then
    # followed worse — 10 of 15 events during slow drift instead of 15, and the face lost once — and a real
    # face in low light or at low resolution may be such a face; a tracker that holds on both comes first.
    rigid_tracking: bool = False
    # Landmark layout: an ME whose apex lies within a blink's hold is checked as a head movement is, with
    # the eyes and the cells around them left out of both the alignment and what is left after it, and
    # whether or not the tracker moved: a blink's lids pull the tracker by a fraction of a pixel, the crop
    # follows, and the lips' sharp edges show that shift as an "ME" (on the tuning people 21 of 34 false
    # MEs peaked within a frame of a blink, mostly in the mouth). Measured there (benchmarks/spotter_sweep.py),
    # MEGC overall F1 / false MEs a minute: the default 0.422 / 1.8, without this check 0.374 / 4.5.
    blink_shadow_check: bool = True
    # ... where the apex's motion away from the eyes is spread over at least this many cells (over half its
    # largest): on the tuning people the shadows spread over 4-12 cells, the drawn test face's expressions
    # (whose only texture besides the eyes is the mouth and brows, so a rigid fit takes their motion for a
    # shift) over 2-4, real MEs beside blinks over 2-8. Tuning people, 0 (no rule) / 4 / 5 / 6: overall F1
    # 0.442 / 0.442 / 0.422 / 0.425; 5 is the least that keeps the drawn face's events.
    shadow_min_cells: int = 5


@dataclass
class PipelineStats:
    frames: int = 0
    no_face_frames: int = 0
    detections: int = 0
    crop_changes: int = 0  # re-anchors: the spotter restarted
    crop_follows: int = 0  # frames on which the crop was re-taken at a new tracked offset (no restart)
    lost_face: int = 0  # the tracker lost the face -> immediate detection
    head_movements_suppressed: int = 0
    candidates_dropped: int = 0  # ME candidates the learned scorer judged no micro-expression
    unserved_events: int = 0  # spotted while a remote engine's server was down: not classified, counted
    events: int = 0  # expressions (ME, MaE) reported
    events_by_type: dict[str, int] = field(default_factory=lambda: {"ME": 0, "MaE": 0, "blink": 0, "talking": 0})
    talking_frames: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))  # apex frame arrival -> event


class BufferedFrame(NamedTuple):
    """A frame the spotter may later name as an onset or apex: its registered face crop, kept."""

    frame_index: int
    time_s: float
    arrival: float  # perf_counter when it reached the pipeline (the event's latency starts here)
    crop: np.ndarray  # registered to the anchor face
    position: np.ndarray  # tracked face position in crop px


def _buffer_frames(spotter: SpotterConfig) -> int:
    """Crops kept: a micro-expression's longest run, the hold of one that peaked in the mouth, a margin."""
    return spotter.max_frames + spotter.talk_hold_frames + 8


def _disagree(tracked: Alignment, found: Alignment, fraction: float) -> bool:
    if tracked.box is None or found.box is None:
        return tracked.method != found.method
    ox, oy, ow, oh = tracked.box
    nx, ny, nw, nh = found.box
    shift = np.hypot((nx + nw / 2) - (ox + ow / 2), (ny + nh / 2) - (oy + oh / 2))
    return shift > fraction * ow or abs(nw - ow) > 0.2 * ow


class Pipeline:
    """One stream's state. Without a bundle (``spot`` without ``--bundle``) it spots and reports intervals
    without a class; :meth:`set_fps` scales the spotter's frame counts to the source's rate."""

    def __init__(
        self,
        bundle: BundleFiles | None,
        engine: Engine | None,
        config: PipelineConfig = PipelineConfig(),
        log: Callable[[str], None] | None = None,
    ) -> None:
        from mpt_edge.motion.config import MotionConfig

        self.bundle, self.engine, self.config = bundle, engine, config
        self.motion = bundle.motion_config if bundle is not None else MotionConfig()
        self.class_names = bundle.class_names if bundle is not None else []
        self.face_detector = resolve_detector(
            config.face_detector, bundle.face_detector if bundle is not None else None, log
        )
        if (
            self.face_detector in LANDMARK_DETECTORS and not config.spotter.mask_eyes
        ):  # eyes where the canonical layout puts them
            config = replace(config, spotter=replace(config.spotter, mask_eyes=True))
            self.config = config
        self.aligner = FaceAligner(self.motion.face_size, self.face_detector)
        # BlazeFace shrinks the frame to 192 px itself and places its mesh on the full-resolution frame;
        # Haar and MTCNN cost grows with the frame: they look at a copy at most detect_width wide
        self.detect_width = None if self.face_detector == "blazeface" else config.detect_width
        self.spotter = ApexSpotter(config.spotter)
        self.me_scorer = MeScorer(threshold=config.spotter.me_threshold) if self._scores_mes() else None
        # every ME candidate's features (after the head-movement checks), where a trainer asks for them
        self.candidates: list[tuple[Spot, np.ndarray]] | None = None
        self.tracker = CropTracker(config.tracker)
        self._set_rigid()
        self.buffer: deque[BufferedFrame] = deque(maxlen=_buffer_frames(config.spotter))
        self.alignment: Alignment | None = None
        self.frame_shape: tuple[int, ...] | None = None
        self.last_detection = -(10**9)
        self.disagreements = 0
        self.offset = np.zeros(2)  # crop px the face has moved since the anchor (compensated)
        self.position = np.zeros(2)  # ... and where it is now, dead band included
        self.crop_shift: np.ndarray | None = None  # small px the face moved in the crop at this frame's re-take
        self.stats = PipelineStats()
        self.input_names = list(bundle.inputs) if bundle is not None else []
        self.last_crop: np.ndarray | None = None  # the registered face of the last frame (spot's baseline reads it)
        self.last_frame_had_face = False
        self.last_event_crops: tuple[np.ndarray, np.ndarray] | None = (
            None  # (onset, apex) of the last event, for reports
        )
        # a macro-expression outlasts the ring buffer: its onset and apex crops are kept as the run grows
        self.run_onset: BufferedFrame | None = None
        self.run_apex: BufferedFrame | None = None
        # ... and those of every run the spotter follows as a possible macro-expression, by its onset frame
        self.macro_crops: dict[int, list[BufferedFrame | None]] = {}
        self.to_crop = self.motion.face_size / config.spotter.size  # small-image px -> crop px
        # blinks and talking spells wait here when an expression ends on the same frame (one event a frame)
        self.outbox: deque[Event] = deque()
        self.times: deque[tuple[int, float]] = deque(maxlen=3600)  # (frame, time): a span's ends, 2 min back

    def _scores_mes(self) -> bool:
        """Whether the spotter's ME candidates go to the learned scorer (:attr:`ApexSpotter.judges_mes`); its
        model must then be installed."""
        if not self.spotter.judges_mes:
            return False
        if not ME_SCORER_MODEL.is_file():
            raise InputError(
                f"{ME_SCORER_MODEL} is missing (the learned ME scorer ships inside mpt-edge); reinstall mpt-edge"
            )
        return True

    def _set_rigid(self) -> None:
        """On the canonical landmark layout, while a blink is open the face's motion is measured without the
        eyes: the head's motion, not the lids' (see :meth:`CropTracker.set_rigid`)."""
        spotter = self.config.spotter
        if spotter.mask_eyes and self.config.rigid_tracking:
            self.tracker.set_rigid(rigid_pixels(spotter))

    def set_fps(self, fps: float) -> None:
        """Scale the spotter's frame counts to the source's rate. Called once the source is open (its rate
        is known only then), before its first frame: the detector and the engine, slow to load, are built
        before the source starts, so a live camera drops nothing while they load."""
        if not fps or abs(fps - self.config.spotter.fps) < 1e-6:
            return
        self.config = replace(self.config, spotter=self.config.spotter.for_fps(fps))
        self.spotter = ApexSpotter(self.config.spotter)
        self.buffer = deque(self.buffer, maxlen=_buffer_frames(self.config.spotter))

    def _detect(self, frame: Frame) -> Alignment | None:
        """A face on this frame (None: no face), found on the downscaled copy."""
        self.last_detection = frame.index
        self.stats.detections += 1
        return self.aligner.find(frame.image, self.detect_width)

    def _anchor(self, alignment: Alignment | None, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        """Place the crop (or, with None, lose the face): the spotter restarts on the new anchor."""
        self.alignment = alignment
        self.offset = np.zeros(2)
        self.disagreements = 0
        self.spotter.reset()
        self.buffer.clear()
        if alignment is None:
            self.tracker.reference = None
            return None
        self.stats.crop_changes += 1
        crop = alignment.apply(frame.image)
        small = face_signal(crop, self.config.spotter.size)
        self.tracker.anchor(small)
        return crop, small

    def _registered(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The crop with the face where the anchor had it (one interpolation from the source frame,
        like every other crop: registering the small image instead left interpolation residue that
        the spotter took for motion), and its small face."""
        assert self.alignment is not None
        crop = self.alignment.apply(image, shift=(-self.offset[0], -self.offset[1]))
        return crop, face_signal(crop, self.config.spotter.size)

    @property
    def tracked_alignment(self) -> Alignment | None:
        """Where the face is now: the anchor crop moved by the tracked offset (for boxes and checks)."""
        return None if self.alignment is None else self.alignment.moved(*self.offset)

    def _face(self, frame: Frame) -> tuple[np.ndarray, np.ndarray] | None:
        """(registered crop, its small face) of this frame, or None without a face; ``self.position``
        is where the tracker sees the face (offset + what the dead band left), in crop px."""
        self.position = self.offset.copy()
        self.crop_shift = None
        image = frame.image
        due = frame.index - self.last_detection >= self.config.detect_every
        if image.shape != self.frame_shape or (self.alignment is None and due):
            self.frame_shape = image.shape
            return self._anchor(self._detect(frame), frame)
        if self.alignment is None:
            return None
        crop, small = self._registered(image)
        # what is left of the face's motion after the offset; without the lids while they move
        measured = self.tracker.measure(small, rigid=self.config.rigid_tracking and self.spotter.blinking)
        if self.tracker.lost(measured):
            self.stats.lost_face += 1
            return self._anchor(self._detect(frame), frame)
        self.position = self.offset + np.array([measured.dx, measured.dy]) * self.to_crop
        if measured.distance > self.config.tracker.deadband:
            # The head moved: follow it. Below the dead band the offset is left alone — re-cropping on
            # every few hundredths of a pixel of estimation noise would be jitter the spotter sees.
            self.crop_shift = (self.offset - self.position) / self.to_crop  # the face's move in the crop, small px
            self.offset = self.position.copy()
            self.stats.crop_follows += 1
            crop, small = self._registered(image)
        if due and not self.spotter.active:
            found = self._detect(frame)
            tracked = self.tracked_alignment
            assert tracked is not None
            # A missed detection is no evidence (Haar misses faces it found a frame before): whether the
            # face is still there is the tracker's call (``lost`` above).
            if found is not None and _disagree(tracked, found, self.config.move_fraction):
                self.disagreements += 1
                if self.disagreements >= 2:  # twice in a row: a real move, not jitter
                    return self._anchor(found, frame)
            elif found is not None:
                self.disagreements = 0
        return crop, small

    def _is_head_movement(
        self, spot: Spot, onset_offset: np.ndarray, apex_offset: np.ndarray, onset: np.ndarray, apex: np.ndarray
    ) -> bool:
        """Did the head move between onset and apex, and does aligning the apex on the onset exactly
        (ECC, on the registered crops) remove most of the event's energy? Then what was spotted was
        the tracker's few hundredths of a pixel of lag during a head movement, not a micro-expression,
        whose local motion no translation can explain."""
        moved = float(np.hypot(*(apex_offset - onset_offset)))
        spotter = self.config.spotter
        if spot.kind == "MaE" and self.config.macro_move_px is not None and moved > self.config.macro_move_px:
            return True
        shadow = (
            self.config.blink_shadow_check
            and spot.kind == "ME"
            and spotter.mask_eyes
            and self.spotter.behaviour.blinked_within(spot.apex, spotter.blink_hold_frames)
        )
        if moved <= self.config.head_motion_px and not shadow:
            return False
        onset_small, apex_small = face_signal(onset, spotter.size), face_signal(apex, spotter.size)
        if shadow:
            return self._is_blink_shadow(spot, onset_small, apex_small, apex)
        left = motion_energy(
            self._aligned_on_onset(onset_small, apex_small, apex), onset_small, spotter, self.spotter.cell_gain
        )
        weak = spot.peak_energy < self.config.weak_peak_ratio * spot.threshold
        return left < self.config.head_motion_ratio * spot.peak_energy or (weak and moved > self.config.large_move_px)

    def _is_blink_shadow(self, spot: Spot, onset_small: np.ndarray, apex_small: np.ndarray, apex: np.ndarray) -> bool:
        """An ME at a blink (``PipelineConfig.blink_shadow_check``): does a shift of the whole face, measured
        without the eyes, explain its motion away from the lids (the blink itself is no evidence either way)?"""
        spotter = self.config.spotter
        regions = regions_of(spotter)
        away = regions["inner"] & ~regions["eyes"] & ~regions["eye_ring"]
        moving = cell_energies(apex_small, onset_small, spotter)
        before = float(moving[away].max())
        # a shift of the whole face moves every textured region, an expression one or two: only motion spread
        # over shadow_min_cells cells is taken for a shift (measured on the cells as they are: a shift is physics,
        # not a cell's noise); and an event that lives at the lids and brows is the blink rule's to judge
        # (ApexSpotter._judge) — compared with the event's peak on the spotter's own (equalised) scale
        spread = int((moving[away] > 0.5 * before).sum())
        gain = self.spotter.cell_gain
        weighed = float((moving * gain)[away].max()) if gain is not None else before
        if spread < self.config.shadow_min_cells or weighed < 0.5 * spot.peak_energy:
            return False
        aligned = self._aligned_on_onset(onset_small, apex_small, apex, rigid=True)
        left = float(cell_energies(aligned, onset_small, spotter)[away].max())
        return left < self.config.head_motion_ratio * before

    def _scorer_keeps(
        self, spot: Spot, onset_offset: np.ndarray, apex_offset: np.ndarray, onset: np.ndarray, apex: np.ndarray
    ) -> bool:
        """An ME candidate put to the learned scorer (``SpotterConfig.learned_me``, landmark layout), or kept
        as it is; its features go to :attr:`candidates` too where a trainer listens."""
        if self.me_scorer is None and self.candidates is None:
            return True
        size = self.config.spotter.size
        context = CandidateContext(
            face_signal(onset, size), face_signal(apex, size), float(np.hypot(*(apex_offset - onset_offset)))
        )
        features = candidate_features(spot, self.spotter, context)
        if self.candidates is not None:
            self.candidates.append((spot, features))
        return self.me_scorer is None or self.me_scorer.keeps(features)

    def _aligned_on_onset(
        self, onset_small: np.ndarray, apex_small: np.ndarray, apex: np.ndarray, rigid: bool = False
    ) -> np.ndarray:
        """The apex crop moved back by the translation ECC finds from the onset to it (``rigid``: measured
        without the eyes), as a small face."""
        spotter = self.config.spotter
        check = CropTracker(self.config.tracker)
        if rigid:
            check.set_rigid(rigid_pixels(spotter))
        check.anchor(onset_small)
        residual = check.measure(apex_small, rigid=rigid)
        aligned = cv2.warpAffine(
            apex,
            np.array([[1.0, 0.0, -residual.dx * self.to_crop], [0.0, 1.0, -residual.dy * self.to_crop]]),
            apex.shape[1::-1],
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return face_signal(aligned, spotter.size)

    def process(self, frame: Frame) -> Event | None:
        """Feed one frame; returns the event when a micro- or macro-expression, a blink or a talking
        spell has just ended (an expression first; a span that ended with it comes on the next frame)."""
        self.times.append((frame.index, frame.time_s))
        event = self._expression(frame)
        self.outbox.extend(self._span_event(span, frame) for span in self.spotter.take_spans())
        if event is None and self.outbox:
            event = self.outbox.popleft()
        return event

    def flush(self, last: Frame | None) -> list[Event]:
        """The stream ended: the spans still open or waiting, as events."""
        spans = self.spotter.close()
        if last is not None:
            self.outbox.extend(self._span_event(span, last) for span in spans)
        events = list(self.outbox)
        self.outbox.clear()
        return events

    def _time_of(self, index: int, now: Frame) -> float:
        for frame_index, time_s in reversed(self.times):
            if frame_index == index:
                return time_s
            if frame_index < index:
                break
        return now.time_s - (now.index - index) / self.config.spotter.fps

    def _span_event(self, span: Span, now: Frame) -> Event:
        self.stats.events_by_type[span.kind] += 1
        if span.kind == "talking":
            self.stats.talking_frames += span.length
        return Event(
            type=span.kind,
            frame_onset=span.onset,
            frame_apex=span.apex,
            frame_offset=span.offset,
            t_onset=round(self._time_of(span.onset, now), 4),
            t_apex=round(self._time_of(span.apex, now), 4),
            t_offset=round(self._time_of(span.offset, now), 4),
            score=round(span.score, 3),
            face_box=self._box(),
        )

    def _expression(self, frame: Frame) -> Event | None:
        """Feed one frame to the face follower and the spotter: the expression that has just ended."""
        arrived = time.perf_counter()
        self.stats.frames += 1
        t0 = time.perf_counter()
        face = self._face(frame)
        if face is None or self.alignment is None:
            self.stats.no_face_frames += 1
            self.last_frame_had_face = False
            self.stats.stage_seconds["face"] += time.perf_counter() - t0
            return None
        crop, small = face
        self.last_crop = crop
        self.last_frame_had_face = True
        t1 = time.perf_counter()
        entry = BufferedFrame(frame.index, frame.time_s, arrived, crop, self.position)
        self.buffer.append(entry)
        spot = self.spotter.update_signal(frame.index, small, self.crop_shift)
        self._follow_run(entry, spot)
        t2 = time.perf_counter()
        self.stats.stage_seconds["face"] += t1 - t0
        self.stats.stage_seconds["spot"] += t2 - t1
        if spot is None:
            return None
        frames: dict[int, BufferedFrame] = {e.frame_index: e for e in self.buffer}
        for kept in (self.run_onset, self.run_apex, *(e for crops in self.macro_crops.values() for e in crops)):
            if kept is not None:
                frames.setdefault(kept.frame_index, kept)
        self.run_onset = self.run_apex = None  # the runs still followed keep theirs (_follow_run prunes)
        if spot.onset not in frames or spot.apex not in frames:
            return None  # the event started before the buffer (e.g. right after a crop change)
        # both crops are registered to the anchor face: head motion between them is already undone
        _, onset_time, _, onset_crop, onset_offset = frames[spot.onset]
        _, apex_time, apex_arrival, apex_crop, apex_offset = frames[spot.apex]
        if self._is_head_movement(spot, onset_offset, apex_offset, onset_crop, apex_crop):
            self.stats.head_movements_suppressed += 1
            self.spotter.rebase(frame.index, small)  # a micro-expression may follow right away
            self.stats.stage_seconds["spot"] += time.perf_counter() - t2
            return None
        if spot.kind == "ME" and not self._scorer_keeps(spot, onset_offset, apex_offset, onset_crop, apex_crop):
            self.stats.candidates_dropped += 1
            self.stats.stage_seconds["spot"] += time.perf_counter() - t2
            return None
        self.last_event_crops = (onset_crop, apex_crop)
        label: str | None = None
        scores: dict[str, float] = {}
        if self.engine is not None:
            feeds = feeds_of(self.motion, self.input_names, onset_crop, apex_crop)
            t3 = time.perf_counter()
            try:
                prediction = predict_feeds(self.engine, feeds, self.class_names)
            except ServerUnavailable:  # the engine said so once and backs off; the stream goes on
                self.stats.unserved_events += 1
                return None
            t4 = time.perf_counter()
            self.stats.stage_seconds["magnify_tokenize"] += t3 - t2
            self.stats.stage_seconds["infer"] += t4 - t3
            label, scores = prediction.label, dict(prediction.scores)
        else:
            t4 = time.perf_counter()
        self.stats.events += 1
        self.stats.events_by_type[spot.kind] += 1
        self.stats.latencies_ms.append((t4 - apex_arrival) * 1000)
        box = self._box()
        return Event(
            type=spot.kind,
            frame_onset=spot.onset,
            frame_apex=spot.apex,
            frame_offset=spot.offset,
            t_onset=round(onset_time, 4),
            t_apex=round(apex_time, 4),
            t_offset=round(frames[spot.offset].time_s if spot.offset in frames else frame.time_s, 4),
            score=round(spot.score, 3),
            label=label,
            scores=scores,
            face_box=box,
        )

    def _box(self) -> tuple[int, int, int, int] | None:
        box = tracked.box if (tracked := self.tracked_alignment) and tracked.box else None
        return (int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None

    def _follow_run(self, entry: BufferedFrame, spot: Spot | None) -> None:
        """Keep the crops of the active run's onset (the last quiet frame) and of its peak so far, and those
        of a macro-expression the spotter follows (it outlasts the ring buffer)."""
        active = self.spotter.active
        if active and len(active) == 1:
            before = next((e for e in reversed(self.buffer) if e.frame_index == self.spotter.last_quiet), None)
            self.run_onset, self.run_apex = before, entry
        elif active and active[-1][1] >= max(v for _, v in active):
            self.run_apex = entry
        for run in self.spotter.macros:
            crops = self.macro_crops.get(run.onset)
            if crops is None:  # a run the spotter has just begun to follow: its crops from the run or the buffer
                kept = [e for e in (self.run_onset, self.run_apex, *self.buffer) if e is not None]
                crops = self.macro_crops[run.onset] = [
                    next((e for e in kept if e.frame_index == run.onset), None),
                    next((e for e in kept if e.frame_index == run.apex), None),
                ]
            if run.apex == entry.frame_index:
                crops[1] = entry
        # the runs no longer followed let go of their crops — but the one that has just ended as this frame's
        # expression, which _expression reads next; an ME inside a followed macro-expression must not take them
        keep = {run.onset for run in self.spotter.macros} | ({spot.onset} if spot is not None else set())
        self.macro_crops = {onset: crops for onset, crops in self.macro_crops.items() if onset in keep}
