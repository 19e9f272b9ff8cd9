"""Class-independent nuisances of a synthetic clip: what makes real micro-expression data hard.

Real onset/apex pairs carry much more than the micro-expression: blinks, eyebrow flashes, the head
translating and turning, light flickering. None of them says anything about the class, and a model (or
a baseline) must learn to ignore them. Each nuisance is drawn once per clip from the clip's own random
stream; with every nuisance switched off (the easy preset) nothing is drawn at all, so the easy set's
pixels do not depend on this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ClipStyle:
    """How one synthetic clip is rendered: the motion's strength and the nuisances around it.

    Units: pixels of a 224-px face (scaled with the face size), gray levels of 0..255 for noise,
    fractions for gains. Defaults are the easy preset's (no distractors, lossless frames).
    """

    frames: int = 9
    amplitude_range: tuple[float, float] = (0.4, 1.5)  # class motion at the apex, px
    noise: float = 1.2  # sensor noise std, gray levels
    jitter: float = 0.08  # head random walk per frame, px
    head_shift_px: float = 0.0  # rigid head translation reached by the last frame: uniform 0..this, any direction
    head_rotation_deg: float = 0.0  # rigid in-plane head rotation reached by the last frame: uniform +-this
    blink_probability: float = 0.0  # chance of a (partial) blink somewhere in the clip
    brow_flash_probability: float = 0.0  # chance of a brow raise (AU1+2) unrelated to the class
    brow_flash_px: tuple[float, float] = (0.1, 0.4)  # its peak amplitude
    flicker: float = 0.0  # per-frame illumination gain std (mains flicker, auto exposure)
    jpeg_quality: int | None = None  # frames stored as JPEG at this quality; None: lossless PNG
    texture: float = 1.0  # skin texture contrast (1: the easy preset's)

    @property
    def has_distractors(self) -> bool:
        return bool(
            self.head_shift_px
            or self.head_rotation_deg
            or self.blink_probability
            or self.brow_flash_probability
            or self.flicker
        )


def _pulse(frames: int, centre: float, half_width: float) -> np.ndarray:
    """Triangular 0..1 profile over the clip, zero at frame 0 so the onset frame stays neutral."""
    t = np.arange(frames, dtype=np.float64)
    profile = np.clip(1.0 - np.abs(t - centre) / half_width, 0.0, 1.0)
    profile[0] = 0.0
    return profile


class Nuisance:
    """The drawn nuisances of one clip, queried frame by frame by the renderer."""

    def __init__(
        self,
        image: np.ndarray,
        landmarks: dict[str, tuple[float, float]],
        style: ClipStyle,
        rng: np.random.Generator,
        frames: int,
        brow_field: np.ndarray,
    ) -> None:
        size = image.shape[0]
        scale = size / 224.0
        self.size = size
        self.blink = np.zeros(frames)
        if style.blink_probability and rng.random() < style.blink_probability:
            self.blink = rng.uniform(0.3, 1.0) * _pulse(frames, rng.uniform(1, frames - 1), rng.uniform(1.5, 3.0))
        self.flash = np.zeros(frames)
        if style.brow_flash_probability and rng.random() < style.brow_flash_probability:
            self.flash = rng.uniform(*style.brow_flash_px) * _pulse(
                frames, rng.uniform(1, frames - 1), rng.uniform(2.0, 4.0)
            )
        self.shift = np.zeros(2)
        if style.head_shift_px:
            direction = rng.uniform(0, 2 * np.pi)
            self.shift = rng.uniform(0, style.head_shift_px) * scale * np.array([np.cos(direction), np.sin(direction)])
        self.angle = rng.uniform(-style.head_rotation_deg, style.head_rotation_deg) if style.head_rotation_deg else 0.0
        self.gains = 1.0 + rng.normal(0, style.flicker, frames) if style.flicker else np.ones(frames)
        self.gains[0] = 1.0
        self.frames = frames
        self.brow_field = brow_field
        self.image = image
        self._lids = self._lid_geometry(landmarks, scale) if self.blink.any() else None

    def _lid_geometry(
        self, landmarks: dict[str, tuple[float, float]], scale: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Soft eye mask, each pixel's depth into the eye from its top (0..1), and the lid colour."""
        size = self.size
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        mask = np.zeros((size, size), np.float32)
        depth = np.zeros((size, size), np.float32)
        half_w, half_h = 10 * scale, 6 * scale
        for name in ("eye_l", "eye_r"):
            ex, ey = landmarks[name]
            inside = ((xs - ex) / half_w) ** 2 + ((ys - ey) / half_h) ** 2
            mask = np.maximum(mask, np.clip((1.0 - inside) * 4.0, 0.0, 1.0))
            near = inside < 1.5
            depth[near] = np.clip((ys[near] - (ey - half_h)) / (2 * half_h), 0, 1)
        brow = landmarks["brow_l"]
        skin = cv2.GaussianBlur(self.image, (0, 0), 3 * scale)[int(brow[1] + 6 * scale), int(brow[0])] * 0.92
        return mask, depth, skin.astype(np.float32)

    def face_image(self, t: int) -> np.ndarray:
        """The face before warping: eyelids lowered by the blink's closure at frame t."""
        if self._lids is None or self.blink[t] <= 0:
            return self.image
        mask, depth, skin = self._lids
        lid = mask * np.clip((self.blink[t] - depth) * 8.0, 0.0, 1.0)
        return self.image * (1 - lid[..., None]) + skin * lid[..., None]

    def displacement(self, t: int) -> np.ndarray | None:
        """Extra (H, W, 2) displacement at frame t (the brow flash), or None."""
        return self.flash[t] * self.brow_field if self.flash[t] else None

    def rigid(self, t: int) -> tuple[float, np.ndarray]:
        """(rotation in degrees, translation in px) of the head at frame t: a ramp over the clip."""
        ramp = t / max(1, self.frames - 1)
        return self.angle * ramp, self.shift * ramp

    def gain(self, t: int) -> float:
        return float(self.gains[t])


def rigid_maps(
    xs: np.ndarray, ys: np.ndarray, angle_deg: float, shift: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates for output pixels of a face rotated by ``angle_deg`` about its centre and
    translated by ``shift`` (inverse mapping, as cv2.remap wants)."""
    centre = size / 2.0
    theta = np.deg2rad(angle_deg)
    cos, sin = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    dx, dy = xs - centre - np.float32(shift[0]), ys - centre - np.float32(shift[1])
    return cos * dx + sin * dy + centre, -sin * dx + cos * dy + centre
