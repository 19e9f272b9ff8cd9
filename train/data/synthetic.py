"""Synthetic micro-expressions: procedurally drawn faces with class-specific, anatomically placed,
sub-pixel facial motion, deterministic by seed. The embedded default data set of every command, so
the whole chain runs on a fresh machine with no licensed data.

Each subject has its own face (shape, skin tone, skin texture, lighting direction, feature layout).
A clip is ``frames`` frames onset -> apex -> offset; the class's action units are displacement
fields (sums of Gaussian bumps, each with a direction) placed on that subject's landmarks, whose
amplitude follows a raised-cosine in time and peaks at the apex at ``amplitude_px`` (0.4..1.5 px by
default). On top: head jitter (random-walk sub-pixel translation), sensor noise, illumination drift.

Classes (3-class, the MEGC2019 composite labels):
* negative: brow lowerer (AU4: brows down and together) + lip press (AU24: lips towards each other);
* positive: lip corner puller (AU12: corners up and out);
* surprise: brow raiser (AU1+2: brows up) + jaw drop (AU26: chin down).
5-class (CASME II labels): happiness (AU6+12), surprise (AU1+2+26), disgust (AU9+10: nose wrinkle,
upper lip up), repression (AU14+15: corners in and down), others (AU1 alone or AU7 lid tightener).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from train.data.distractors import ClipStyle, Nuisance, rigid_maps

CLASSES_3 = ("negative", "positive", "surprise")
CLASSES_5 = ("happiness", "surprise", "disgust", "repression", "others")


@dataclass(frozen=True)
class Face:
    """One subject's drawn face and landmark positions (pixels in a size x size image)."""

    image: np.ndarray  # float32 BGR 0..1
    landmarks: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8 BGR
    label: int
    subject: str
    onset: int
    apex: int
    offset: int
    amplitude_px: float


def draw_face(rng: np.random.Generator, size: int = 224, texture: float = 1.0) -> Face:
    """A procedurally drawn face: distinct per subject, smooth skin texture, directional lighting.
    ``texture`` scales the skin texture's contrast (real skin at this scale is smoother than the
    easy preset's, and texture is what makes sub-pixel motion visible away from the features)."""
    s = size / 224.0
    cx, cy = size / 2 + rng.uniform(-6, 6) * s, size / 2 + rng.uniform(-4, 8) * s
    half_w, half_h = rng.uniform(70, 86) * s, rng.uniform(92, 106) * s
    skin = np.array([rng.uniform(90, 170), rng.uniform(120, 190), rng.uniform(160, 235)]) / 255.0
    background = rng.uniform(0.2, 0.8, 3)
    img = np.empty((size, size, 3), np.float32)
    img[:] = background
    cv2.ellipse(img, (int(cx), int(cy)), (int(half_w), int(half_h)), 0, 0, 360, skin.tolist(), -1, cv2.LINE_AA)
    eye_dx, eye_y = rng.uniform(26, 34) * s, cy - rng.uniform(18, 28) * s
    brow_y = eye_y - rng.uniform(16, 22) * s
    mouth_y, mouth_w = cy + rng.uniform(44, 56) * s, rng.uniform(22, 32) * s
    nose_y = cy + rng.uniform(12, 20) * s
    chin_y = cy + half_h * 0.85
    dark = (skin * rng.uniform(0.25, 0.45)).tolist()
    lip = (skin * np.array([0.6, 0.55, 0.95])).tolist()
    thick = max(1, int(round(3 * s)))
    for side in (-1, 1):
        ex = cx + side * eye_dx
        cv2.ellipse(
            img, (int(ex), int(eye_y)), (int(9 * s), int(5 * s)), 0, 0, 360, (0.95, 0.95, 0.95), -1, cv2.LINE_AA
        )
        cv2.circle(img, (int(ex), int(eye_y)), int(4 * s), dark, -1, cv2.LINE_AA)
        cv2.line(
            img,
            (int(ex - 15 * s), int(brow_y + 2 * s)),
            (int(ex + 15 * s), int(brow_y - side * 2 * s)),
            dark,
            thick,
            cv2.LINE_AA,
        )
    cv2.line(img, (int(cx), int(eye_y + 8 * s)), (int(cx - 5 * s), int(nose_y)), dark, max(1, thick - 1), cv2.LINE_AA)
    cv2.ellipse(img, (int(cx), int(mouth_y)), (int(mouth_w), int(6 * s)), 0, 0, 360, lip, -1, cv2.LINE_AA)
    cv2.line(
        img, (int(cx - mouth_w), int(mouth_y)), (int(cx + mouth_w), int(mouth_y)), dark, max(1, thick - 1), cv2.LINE_AA
    )
    # Skin texture (pores, blemishes) so that motion is visible everywhere, and directional light.
    grain = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), rng.uniform(1.0, 2.0) * s)
    img += (texture * rng.uniform(0.04, 0.08) * grain / (grain.std() + 1e-6))[..., None]
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    img *= (1.0 + rng.uniform(0.1, 0.3) * (np.cos(angle) * xs + np.sin(angle) * ys))[..., None]
    landmarks = {
        "brow_l": (cx - eye_dx, brow_y),
        "brow_r": (cx + eye_dx, brow_y),
        "eye_l": (cx - eye_dx, eye_y),
        "eye_r": (cx + eye_dx, eye_y),
        "nose": (cx, nose_y),
        "mouth_l": (cx - mouth_w, mouth_y),
        "mouth_r": (cx + mouth_w, mouth_y),
        "upper_lip": (cx, mouth_y - 5 * s),
        "lower_lip": (cx, mouth_y + 5 * s),
        "chin": (cx, chin_y),
    }
    return Face(np.clip(img, 0, 1).astype(np.float32), landmarks)


# Action units as (landmark, direction x, direction y, radius in px at 224) bumps.
_AUS: dict[str, list[tuple[str, float, float, float]]] = {
    "AU1+2": [("brow_l", 0, -1, 14), ("brow_r", 0, -1, 14)],
    "AU4": [("brow_l", 0.5, 0.9, 13), ("brow_r", -0.5, 0.9, 13)],
    "AU6+12": [("mouth_l", -0.45, -0.9, 11), ("mouth_r", 0.45, -0.9, 11)],
    "AU24": [("upper_lip", 0, 0.8, 9), ("lower_lip", 0, -0.8, 9)],
    "AU26": [("chin", 0, 1, 22), ("lower_lip", 0, 0.7, 12)],
    "AU9+10": [("nose", 0, -0.8, 10), ("upper_lip", 0, -1, 10)],
    "AU14+15": [("mouth_l", 0.5, 0.8, 10), ("mouth_r", -0.5, 0.8, 10)],
    "AU7": [("eye_l", 0, 0.6, 8), ("eye_r", 0, 0.6, 8)],
}
_CLASS_AUS = {
    3: [["AU4", "AU24"], ["AU6+12"], ["AU1+2", "AU26"]],
    5: [["AU6+12"], ["AU1+2", "AU26"], ["AU9+10"], ["AU14+15"], ["AU1+2"]],  # 'others' also draws AU7
}


def displacement_field(face: Face, action_units: list[str], size: int) -> np.ndarray:
    """(H, W, 2) unit-amplitude displacement field of the given action units on this face."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    field = np.zeros((size, size, 2), np.float32)
    for au in action_units:
        for landmark, dx, dy, radius in _AUS[au]:
            lx, ly = face.landmarks[landmark]
            r = radius * size / 224.0
            weight = np.exp(-((xs - lx) ** 2 + (ys - ly) ** 2) / (2 * r * r))
            norm = np.hypot(dx, dy) or 1.0
            field[..., 0] += weight * dx / norm
            field[..., 1] += weight * dy / norm
    peak = np.abs(field).max()
    return field / peak if peak > 0 else field


def make_clip(
    face: Face,
    label: int,
    num_classes: int,
    rng: np.random.Generator,
    subject: str,
    style: ClipStyle | None = None,
    **overrides: Any,
) -> Clip:
    """Render one clip; frame `apex` carries the full deformation. ``style`` (default: the easy
    preset's) sets motion strength and nuisances; keyword ``overrides`` replace single style fields."""
    style = replace(style or ClipStyle(), **overrides) if overrides else (style or ClipStyle())
    frames = style.frames
    size = face.image.shape[0]
    aus = list(_CLASS_AUS[num_classes][label])
    if num_classes == 5 and label == 4 and rng.random() < 0.5:
        aus = ["AU7"]
    field = displacement_field(face, aus, size)
    amplitude = float(rng.uniform(*style.amplitude_range))
    apex = int(rng.integers(frames // 3, 2 * frames // 3 + 1))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    head = np.zeros(2, np.float32)
    gain0, gain_drift = rng.uniform(0.95, 1.05), rng.uniform(-0.01, 0.01)
    nuisance = (
        Nuisance(face.image, face.landmarks, style, rng, frames, displacement_field(face, ["AU1+2"], size))
        if style.has_distractors
        else None
    )
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        # raised cosine: 0 at onset (t=0) and offset (t=frames-1), 1 at the apex
        phase = t / apex if t <= apex else 1 + (t - apex) / max(1, frames - 1 - apex)
        strength = amplitude * 0.5 * (1 - np.cos(np.pi * phase))
        if t > 0:
            head += rng.normal(0, style.jitter, 2).astype(np.float32)
        strength = np.float32(strength)
        image, gain = face.image, 1.0
        if nuisance is None:
            map_x = xs - strength * field[..., 0] - head[0]
            map_y = ys - strength * field[..., 1] - head[1]
        else:
            image, gain = nuisance.face_image(t), nuisance.gain(t)
            angle, shift = nuisance.rigid(t)
            map_x, map_y = rigid_maps(xs, ys, angle, shift + head, size)
            motion = strength * field
            extra = nuisance.displacement(t)
            if extra is not None:
                motion = motion + extra.astype(np.float32)
            map_x, map_y = map_x - motion[..., 0], map_y - motion[..., 1]
        frame = np.asarray(cv2.remap(image, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
        frame = frame * (gain * (gain0 + gain_drift * t / frames)) + rng.normal(
            0, style.noise / 255.0, frame.shape
        ).astype(np.float32)
        out[t] = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Clip(out, label, subject, 0, apex, frames - 1, amplitude)


def iter_clips(
    num_subjects: int = 12,
    clips_per_class: int = 4,
    num_classes: int = 3,
    size: int = 224,
    seed: int = 0,
    class_counts: Sequence[int] | None = None,
    style: ClipStyle | None = None,
    **clip_options,
) -> Iterator[Clip]:
    """The synthetic set clip by clip: every subject shows class c ``class_counts[c]`` times (default:
    ``clips_per_class`` each). Deterministic: each subject draws from its own seeded stream, so
    subject k is identical whatever num_subjects."""
    if num_classes not in _CLASS_AUS:
        raise ValueError(f"num_classes={num_classes}; the synthetic set has 3 or 5 classes")
    counts = list(class_counts) if class_counts is not None else [clips_per_class] * num_classes
    if len(counts) != num_classes:
        raise ValueError(f"class_counts has {len(counts)} entries for {num_classes} classes")
    for index in range(num_subjects):
        rng = np.random.default_rng([seed, index])
        face = draw_face(rng, size, style.texture if style else 1.0)
        subject = f"s{index + 1:02d}"
        for label in range(num_classes):
            for _ in range(counts[label]):
                yield make_clip(face, label, num_classes, rng, subject, style, **clip_options)


def generate(
    num_subjects: int = 12,
    clips_per_class: int = 4,
    num_classes: int = 3,
    size: int = 224,
    seed: int = 0,
    class_counts: Sequence[int] | None = None,
    style: ClipStyle | None = None,
    **clip_options,
) -> list[Clip]:
    """The whole synthetic set in memory (see :func:`iter_clips`)."""
    return list(iter_clips(num_subjects, clips_per_class, num_classes, size, seed, class_counts, style, **clip_options))
