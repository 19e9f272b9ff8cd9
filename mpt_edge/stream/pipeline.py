"""The streaming loop: frame -> face (detect every N frames, hold the crop in between) -> spotting ->
magnification + Gaussian tokenization (the shared ``model_inputs``) -> engine -> event.

Tracking is "hold with hysteresis": the face is re-detected every ``detect_every`` frames, but the
crop only moves when the face really moved (centre shift > ``move_fraction`` of its size, or size
change > 20 %); then the spotter restarts, so onset and apex of one event always come from the *same*
crop (a crop change would look like motion). No face for a while: spotting pauses and the gap is
counted, never guessed at. Frames whose size changes re-trigger detection. Nothing is stored: crops
live in a ring buffer of a few frames.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from mpt_edge.bundle import Bundle
from mpt_edge.engines import Engine
from mpt_edge.face import Alignment, FaceAligner
from mpt_edge.preprocess import model_inputs
from mpt_edge.stream.sources import Frame
from mpt_edge.stream.spotting import ApexSpotter, SpotterConfig

STAGES = ("face", "spot", "magnify_tokenize", "infer")


@dataclass(frozen=True)
class PipelineConfig:
    detect_every: int = 15
    face_detector: str = "haar"
    move_fraction: float = 0.1
    spotter: SpotterConfig = SpotterConfig()


@dataclass
class PipelineStats:
    frames: int = 0
    no_face_frames: int = 0
    detections: int = 0
    crop_changes: int = 0
    events: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=10_000))  # apex frame arrival -> event


def _moved(old: Alignment, new: Alignment, fraction: float) -> bool:
    if old.box is None or new.box is None:
        return old.method != new.method
    ox, oy, ow, oh = old.box
    nx, ny, nw, nh = new.box
    shift = np.hypot((nx + nw / 2) - (ox + ow / 2), (ny + nh / 2) - (oy + oh / 2))
    return shift > fraction * ow or abs(nw - ow) > 0.2 * ow


class Pipeline:
    def __init__(self, bundle: Bundle, engine: Engine, config: PipelineConfig = PipelineConfig()) -> None:
        self.bundle, self.engine, self.config = bundle, engine, config
        self.motion = bundle.motion_config
        self.class_names = bundle.class_names
        self.aligner = FaceAligner(self.motion.face_size, config.face_detector)
        self.spotter = ApexSpotter(config.spotter)
        self.buffer: deque[tuple[int, float, float, np.ndarray]] = deque(maxlen=config.spotter.max_frames + 8)
        self.alignment: Optional[Alignment] = None
        self.frame_shape: Optional[tuple[int, ...]] = None
        self.last_detection = -10**9
        self.stats = PipelineStats()
        self.input_names = list(bundle.manifest["inputs"])

    def _face(self, frame: Frame) -> Optional[Alignment]:
        image = frame.image
        due = frame.index - self.last_detection >= self.config.detect_every
        resized = image.shape != self.frame_shape
        if resized or (due and not self.spotter.active):  # no face: retried every detect_every frames, not every frame
            self.frame_shape = image.shape
            self.last_detection = frame.index
            self.stats.detections += 1
            found = self.aligner.align(image)
            if found.method == "centre" and self.config.face_detector != "none":
                self.alignment = None  # no face: pause spotting rather than spot on the background
                self.spotter.reset()
                self.buffer.clear()
                return None
            if self.alignment is None or resized or _moved(self.alignment, found, self.config.move_fraction):
                self.alignment = found
                self.stats.crop_changes += 1
                self.spotter.reset()
                self.buffer.clear()
        return self.alignment

    def process(self, frame: Frame) -> Optional[dict[str, Any]]:
        """Feed one frame; returns an event dict when a micro-expression has just ended."""
        arrived = time.perf_counter()
        self.stats.frames += 1
        t0 = time.perf_counter()
        alignment = self._face(frame)
        if alignment is None:
            self.stats.no_face_frames += 1
            self.stats.stage_seconds["face"] += time.perf_counter() - t0
            return None
        crop = alignment.apply(frame.image)
        t1 = time.perf_counter()
        self.buffer.append((frame.index, frame.time_s, arrived, crop))
        spot = self.spotter.update(frame.index, crop)
        t2 = time.perf_counter()
        self.stats.stage_seconds["face"] += t1 - t0
        self.stats.stage_seconds["spot"] += t2 - t1
        if spot is None:
            return None
        frames = {index: (time_s, arrival, image) for index, time_s, arrival, image in self.buffer}
        if spot.onset not in frames or spot.apex not in frames:
            return None  # the event started before the buffer (e.g. right after a crop change)
        onset_time, _, onset_crop = frames[spot.onset]
        apex_time, apex_arrival, apex_crop = frames[spot.apex]
        image, motion = model_inputs(onset_crop, apex_crop, self.motion)
        t3 = time.perf_counter()
        feeds = {"apex": image[None], "motion": motion[None]}
        logits = self.engine.infer({k: v for k, v in feeds.items() if k in self.input_names})[0]
        t4 = time.perf_counter()
        self.stats.stage_seconds["magnify_tokenize"] += t3 - t2
        self.stats.stage_seconds["infer"] += t4 - t3
        scores = np.exp(logits - logits.max())
        scores /= scores.sum()
        self.stats.events += 1
        self.stats.latencies_ms.append((t4 - apex_arrival) * 1000)
        return {
            "t_onset": round(onset_time, 4), "t_apex": round(apex_time, 4), "frame_onset": spot.onset, "frame_apex": spot.apex,
            "label": self.class_names[int(np.argmax(scores))], "scores": {n: round(float(s), 4) for n, s in zip(self.class_names, scores)},
            "face_box": list(alignment.box) if alignment.box else None,
        }
