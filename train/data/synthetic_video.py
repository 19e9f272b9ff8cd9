"""A synthetic camera stream: one drawn subject, mostly neutral (head jitter, sensor noise, slow
light drift), with micro-expressions of known class at known frames — ground truth for the streaming
runtime's tests, its benchmark and ``mpt-edge demo``. Same faces and action units as the synthetic
training set (:mod:`train.data.synthetic`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from train.data.synthetic import _CLASS_AUS, displacement_field, draw_face


@dataclass(frozen=True)
class TrueEvent:
    onset: int
    apex: int
    offset: int
    label: int


def plan_events(
    length: int, labels: Sequence[int], gap: int = 30, duration: int = 9, start: int = 30
) -> list[TrueEvent]:
    """Events every ``gap`` frames from ``start``: onset, apex in the middle, offset ``duration`` later."""
    events = []
    for k, label in enumerate(labels):
        onset = start + k * gap
        if onset + duration >= length:
            break
        events.append(TrueEvent(onset, onset + duration // 2, onset + duration - 1, int(label)))
    return events


# Canvas presets: (width, height, face enlargement). A face of ~224 px on a 320x256 frame is the demo;
# a person at the same distance from a 720p/1080p/4k camera fills 2/3/6x the pixels.
CANVASES = {"demo": (320, 256, 1.0), "720p": (1280, 720, 2.0), "1080p": (1920, 1080, 3.0), "4k": (3840, 2160, 6.0)}
HEAD_MOTIONS = ("none", "drift", "moves")


@dataclass(frozen=True)
class HeadPath:
    """Rigid head motion per frame (frame px, degrees) and the frame ranges of quick moves."""

    dx: np.ndarray
    dy: np.ndarray
    angle: np.ndarray
    moves: tuple[tuple[int, int], ...]


def head_path(length: int, mode: str = "none", seed: int = 0, every: int = 47, scale: float = 1.0) -> HeadPath:
    """``none``: still (the renderer's own sub-pixel jitter only); ``drift``: slow sway of about ±3 px
    and ±0.6° with periods of 10-17 s; ``moves``: a quick move of 5-15 px over 3-6 frames about every
    ``every`` frames (at irregular times, so some fall during micro-expressions), the head staying
    where it moved, within ±15 px of its start. Amplitudes are for a demo-sized face and scale with
    ``scale`` (the face's enlargement on a larger canvas)."""
    if mode not in HEAD_MOTIONS:
        raise ValueError(f"head motion {mode!r}: choose one of {', '.join(HEAD_MOTIONS)}")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    dx, dy, angle = np.zeros(length), np.zeros(length), np.zeros(length)
    moves: list[tuple[int, int]] = []
    if mode == "drift":
        phase = rng.uniform(0, 2 * np.pi, 3)
        dx = 3.0 * np.sin(2 * np.pi * t / 300 + phase[0])
        dy = 2.0 * np.sin(2 * np.pi * t / 420 + phase[1])
        angle = 0.6 * np.sin(2 * np.pi * t / 500 + phase[2])
    elif mode == "moves":
        position = np.zeros(2)
        start = int(rng.integers(20, every))
        while start < length - 8:
            frames = int(rng.integers(3, 7))
            size = rng.uniform(5, 15)
            direction = rng.normal(size=2)
            if np.linalg.norm(position) > 6:  # lean back towards the start: stay in frame
                direction = -position + rng.normal(scale=2.0, size=2)
            step = size * direction / max(float(np.linalg.norm(direction)), 1e-6)
            target = np.clip(position + step, -15, 15)
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - start) / frames, 0, 1))
            dx += (target[0] - position[0]) * ramp
            dy += (target[1] - position[1]) * ramp
            position = target
            moves.append((start, start + frames))
            start += int(rng.integers(every // 2, every * 3 // 2))
    return HeadPath(dx * scale, dy * scale, angle, tuple(moves))


def render_stream(
    events: Sequence[TrueEvent],
    length: int,
    face_size: int = 224,
    frame_size: tuple[int, int] = (320, 256),
    num_classes: int = 3,
    seed: int = 100,
    amplitude_px: float = 1.2,
    noise: float = 1.2,
    jitter: float = 0.03,
    face_scale: float = 1.0,
    head: HeadPath | None = None,
) -> Iterator[np.ndarray]:
    """BGR uint8 frames, the face centred in a wider camera frame, enlarged ``face_scale`` times
    (drawn at ``face_size``, so its micro-expressions scale with it), moved by ``head`` (frame px)."""
    rng = np.random.default_rng(seed)
    face = draw_face(rng, face_size)
    fields = {
        label: displacement_field(face, list(_CLASS_AUS[num_classes][label]), face_size)
        for label in {e.label for e in events}
    }
    ys, xs = np.mgrid[0:face_size, 0:face_size].astype(np.float32)
    cx = cy = (face_size - 1) / 2.0
    width, height = frame_size
    shown = int(round(face_size * face_scale))
    if shown > min(width, height):
        raise ValueError(f"a {shown}px face does not fit a {width}x{height} frame")
    background = np.full((height, width, 3), np.round(rng.uniform(0.2, 0.6, 3) * 255), np.int16)
    x0, y0 = (width - shown) // 2, (height - shown) // 2
    # Sensor noise: one pool, a random window of it per frame (drawing 6M normals per 1080p frame would
    # make rendering, not the pipeline, the benchmark's bottleneck).
    pool = np.round(rng.normal(0, noise, (height + 32, width + 32, 3))).astype(np.int16)
    jitter_xy = np.zeros(2, np.float32)
    for t in range(length):
        jitter_xy = 0.9 * jitter_xy + rng.normal(0, jitter, 2).astype(
            np.float32
        )  # stays near centre, like a seated person
        hx, hy, ha = (
            (head.dx[t] / face_scale, head.dy[t] / face_scale, head.angle[t]) if head is not None else (0.0, 0.0, 0.0)
        )
        dx = np.full_like(xs, jitter_xy[0] + hx)
        dy = np.full_like(ys, jitter_xy[1] + hy)
        if ha:
            c, s_ = np.cos(np.radians(ha)), np.sin(np.radians(ha))
            dx += (c - 1) * (xs - cx) - s_ * (ys - cy)
            dy += s_ * (xs - cx) + (c - 1) * (ys - cy)
        for event in events:
            if event.onset <= t <= event.offset:
                phase = (
                    (t - event.onset) / max(1, event.apex - event.onset)
                    if t <= event.apex
                    else 1 + (t - event.apex) / max(1, event.offset - event.apex)
                )
                strength = np.float32(amplitude_px * 0.5 * (1 - np.cos(np.pi * phase)))
                dx += strength * fields[event.label][..., 0]
                dy += strength * fields[event.label][..., 1]
        warped = cv2.remap(face.image, xs - dx, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        warped = warped * (1.0 + 0.02 * np.sin(t / 90.0))
        if shown != face_size:
            warped = cv2.resize(warped, (shown, shown), interpolation=cv2.INTER_CUBIC)
        frame = background.copy()
        frame[y0 : y0 + shown, x0 : x0 + shown] = np.round(np.clip(warped, 0, 1) * 255)
        ox, oy = rng.integers(0, 32, 2)
        frame += pool[oy : oy + height, ox : ox + width]
        yield np.clip(frame, 0, 255).astype(np.uint8)


def write_video(path: Path, frames: Iterator[np.ndarray], fps: float = 30.0) -> Path:
    """A lossless-enough AVI (MJPG at quality 100; sub-pixel motion must survive the codec)."""
    writer = None
    for frame in frames:
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (frame.shape[1], frame.shape[0]))
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
        writer.write(frame)
    if writer is not None:
        writer.release()
    return path
