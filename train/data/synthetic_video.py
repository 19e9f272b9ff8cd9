"""A synthetic camera stream: one drawn subject, mostly neutral (head jitter, sensor noise, slow
light drift), with micro-expressions of known class at known frames — ground truth for the streaming
runtime's tests, its benchmark and ``mpt-edge demo``. Same faces and action units as the synthetic
training set (:mod:`train.data.synthetic`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from train.data.synthetic import _CLASS_AUS, displacement_field, draw_face


@dataclass(frozen=True)
class TrueEvent:
    onset: int
    apex: int
    offset: int
    label: int


def plan_events(length: int, labels: Sequence[int], gap: int = 30, duration: int = 9, start: int = 30) -> list[TrueEvent]:
    """Events every ``gap`` frames from ``start``: onset, apex in the middle, offset ``duration`` later."""
    events = []
    for k, label in enumerate(labels):
        onset = start + k * gap
        if onset + duration >= length:
            break
        events.append(TrueEvent(onset, onset + duration // 2, onset + duration - 1, int(label)))
    return events


def render_stream(
    events: Sequence[TrueEvent], length: int, face_size: int = 224, frame_size: tuple[int, int] = (320, 256),
    num_classes: int = 3, seed: int = 100, amplitude_px: float = 1.2, noise: float = 1.2, jitter: float = 0.03,
) -> Iterator[np.ndarray]:
    """BGR uint8 frames, the face centred in a wider camera frame."""
    rng = np.random.default_rng(seed)
    face = draw_face(rng, face_size)
    fields = {label: displacement_field(face, list(_CLASS_AUS[num_classes][label]), face_size) for label in {e.label for e in events}}
    ys, xs = np.mgrid[0:face_size, 0:face_size].astype(np.float32)
    width, height = frame_size
    background = np.full((height, width, 3), rng.uniform(0.2, 0.6, 3), np.float32)
    x0, y0 = (width - face_size) // 2, (height - face_size) // 2
    head = np.zeros(2, np.float32)
    for t in range(length):
        head = 0.9 * head + rng.normal(0, jitter, 2).astype(np.float32)  # stays near centre, like a seated person
        dx, dy = np.full_like(xs, head[0]), np.full_like(ys, head[1])
        for event in events:
            if event.onset <= t <= event.offset:
                phase = (t - event.onset) / max(1, event.apex - event.onset) if t <= event.apex else 1 + (t - event.apex) / max(1, event.offset - event.apex)
                strength = np.float32(amplitude_px * 0.5 * (1 - np.cos(np.pi * phase)))
                dx += strength * fields[event.label][..., 0]
                dy += strength * fields[event.label][..., 1]
        warped = cv2.remap(face.image, xs - dx, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frame = background.copy()
        frame[y0 : y0 + face_size, x0 : x0 + face_size] = warped * (1.0 + 0.02 * np.sin(t / 90.0))
        frame += rng.normal(0, noise / 255.0, frame.shape).astype(np.float32)
        yield np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)


def write_video(path: Path, frames: Iterator[np.ndarray], fps: float = 30.0) -> Path:
    """A lossless-enough AVI (MJPG at quality 100; sub-pixel motion must survive the codec)."""
    writer = None
    for frame in frames:
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frame.shape[1], frame.shape[0]))
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
        writer.write(frame)
    if writer is not None:
        writer.release()
    return path
