"""Frames of a real face moving: a photograph placed in a 640x480 camera frame, warped sub-pixel by the
dense field of its action units, with the nuisances a lab recording has.

A *scene* is one identity placed once: the photograph resampled so the face has the size a lab camera
gives it (CASME II, SMIC-HS: about 200 px across at 640x480), its mesh in frame pixels, and the triangle
map of the mesh. A frame is the scene backward-warped (``cv2.remap``, bicubic) by the sum of three fields:
the AU field times the expression's time profile, an eyelid field (AU43) for blinks, and a rigid head move
(translation + rotation about the face centre); then lighting gain, sensor noise, and the JPEG the frame
is stored in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from train.data.realface.au_model import AuMeshModel, fit_to_face
from train.data.realface.field import dense_field, triangle_index_map
from train.data.realface.identities import Identity

FRAME_SIZE = (640, 480)  # width, height


@dataclass(frozen=True)
class Scene:
    identity: Identity
    base: np.ndarray = field(repr=False)  # (H, W, 3) float32, the placed photograph
    mesh: np.ndarray = field(repr=False)  # (468, 2) frame pixels
    index: np.ndarray = field(repr=False)  # triangle map of the mesh (train.data.realface.field)
    to_frame: np.ndarray = field(repr=False)  # 2x2: model mesh units -> frame pixels (scale, roll, y flip)
    face_mask: np.ndarray = field(repr=False)  # (H, W) bool, inside the mesh

    @property
    def centre(self) -> np.ndarray:
        return self.mesh.mean(0)


def place(identity: Identity, model: AuMeshModel, rng: np.random.Generator, face_width: float | None = None) -> Scene:
    """The identity's photograph scaled so its face is ``face_width`` px wide (default 190-230), near the
    frame centre, in a 640x480 frame (the photograph's own surroundings around it)."""
    width, height = FRAME_SIZE
    extent = float(np.ptp(identity.mesh[:, 0]))
    scale = (face_width or rng.uniform(190, 230)) / extent
    target = np.array([width / 2 + rng.uniform(-20, 20), height / 2 + rng.uniform(-15, 10)])
    centre = identity.mesh.mean(0)
    matrix = np.array([[scale, 0.0, target[0] - scale * centre[0]], [0.0, scale, target[1] - scale * centre[1]]])
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    base = cv2.warpAffine(
        identity.image, matrix, FRAME_SIZE, flags=interpolation, borderMode=cv2.BORDER_REFLECT101
    ).astype(np.float32)
    mesh = identity.mesh * scale + matrix[:, 2]
    index = triangle_index_map(mesh, model.triangles, (height, width))
    return Scene(identity, base, mesh, index, fit_to_face(model.mean_mesh, mesh), index > 0)


def au_field(scene: Scene, model: AuMeshModel, intensities: dict[str, float]) -> np.ndarray:
    """(H, W, 2) displacement in frame pixels of these AU intensities on this face."""
    motion = model.mesh_motion(intensities) @ scene.to_frame.T
    return dense_field(scene.mesh, motion, model.triangles, scene.base.shape[:2], scene.index)


def normalised(field: np.ndarray, mask: np.ndarray, amplitude: float) -> np.ndarray:
    """``field`` scaled so its 99th percentile of |d| over the face is ``amplitude`` px."""
    magnitude = np.linalg.norm(field[mask], axis=1)
    peak = float(np.percentile(magnitude, 99)) if magnitude.size else 0.0
    return field * (amplitude / peak) if peak > 1e-9 else field


@lru_cache(maxsize=2)
def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return ys, xs


def rigid_field(shape: tuple[int, int], centre: np.ndarray, shift: np.ndarray, angle_deg: float) -> np.ndarray:
    """Displacement of a head move: rotation by ``angle_deg`` about ``centre``, then ``shift`` px."""
    ys, xs = _grid(tuple(shape))
    theta = np.deg2rad(angle_deg)
    cos, sin = np.float32(np.cos(theta) - 1.0), np.float32(np.sin(theta))  # displacement = (R - I)(x - c) + shift
    dx, dy = xs - np.float32(centre[0]), ys - np.float32(centre[1])
    out = np.empty((*xs.shape, 2), np.float32)
    out[..., 0] = cos * dx - sin * dy + np.float32(shift[0])
    out[..., 1] = sin * dx + cos * dy + np.float32(shift[1])
    return out


@dataclass(frozen=True)
class Nuisance:
    noise: float = 2.0  # sensor noise, grey levels (sigma)
    flicker: float = 0.008  # lighting gain variation (sigma of a slow random walk)
    jpeg_quality: int = 90


class FrameRenderer:
    """Frames of one scene: ``render(displacement)`` backward-warps the base by a displacement field."""

    def __init__(self, scene: Scene, nuisance: Nuisance, rng: np.random.Generator) -> None:
        self.scene, self.nuisance, self.rng = scene, nuisance, rng
        height, width = scene.base.shape[:2]
        self.grid_y, self.grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.gain = 1.0

    def warp(self, displacement: np.ndarray | None) -> np.ndarray:
        """The base moved by ``displacement`` (the content at x goes to x + d): float32, no nuisance."""
        if displacement is None:
            return self.scene.base.copy()
        displacement = displacement.astype(np.float32, copy=False)
        map_x = self.grid_x - displacement[..., 0]
        map_y = self.grid_y - displacement[..., 1]
        return cv2.remap(self.scene.base, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)

    def render(self, displacement: np.ndarray | None) -> np.ndarray:
        """A uint8 BGR frame with lighting, noise and JPEG."""
        self.gain = 1.0 + 0.9 * (self.gain - 1.0) + self.rng.normal(0.0, self.nuisance.flicker)
        image = self.warp(displacement) * self.gain
        if self.nuisance.noise:
            image = image + self.rng.normal(0.0, self.nuisance.noise, image.shape).astype(np.float32)
        frame = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        if self.nuisance.jpeg_quality:
            ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.nuisance.jpeg_quality])
            frame = cv2.imdecode(data, cv2.IMREAD_COLOR)  # type: ignore[assignment]  # never None: just encoded
        return frame


def bump(frames: int, start: float, peak: float, end: float) -> np.ndarray:
    """0 -> 1 -> 0 over frame indices: raised-cosine rise from ``start`` to ``peak``, fall to ``end``."""
    t = np.arange(frames, dtype=np.float64)
    rise = np.clip((t - start) / max(peak - start, 1e-6), 0, 1)
    fall = np.clip((end - t) / max(end - peak, 1e-6), 0, 1)
    return np.where(t <= peak, 0.5 - 0.5 * np.cos(np.pi * rise), 0.5 - 0.5 * np.cos(np.pi * fall))


def frames_of(
    renderer: FrameRenderer, fields: list[tuple[np.ndarray, np.ndarray]], frames: int
) -> Iterator[np.ndarray]:
    """Frames 0..frames-1, each moved by the sum of ``field * profile[t]`` over ``fields``."""
    for t in range(frames):
        total = None
        for field_, profile in fields:
            if profile[t] != 0.0:
                total = field_ * np.float32(profile[t]) if total is None else total + field_ * np.float32(profile[t])
        yield renderer.render(total)
