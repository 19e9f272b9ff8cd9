"""Face alignment shared by training (``mpt-edge prepare``) and the runtime (:mod:`mpt_edge.stream`).

The detectors live in :mod:`mpt_edge.faces` (BlazeFace + face mesh, MTCNN, Haar). Alignment is
computed on the **onset** frame only and the *same* similarity transform is applied to the apex, so
the transform itself cannot create or hide onset->apex motion. From the largest face found:

- ``landmarks``: eye centres and mouth centre (mesh, MTCNN) -> the least-squares similarity onto the
  canonical layout (:data:`CANONICAL`): the eyes level, the face the same size and place in every crop;
- ``eyes``: eye centres only (Haar's eye boxes) -> the eyes levelled, the crop from the face box;
- ``box``: a face box without eyes -> cropped, not rotated;
- ``frame``: ``--face none``, the frames already are face crops: the centred square.

A clip whose face is not found is **not** aligned on the whole frame: :class:`NoFaceError` names it,
and ``prepare`` skips and counts it (``--skip-invalid``) or stops. Faces that fill the frame (pre-
cropped data sets) are looked for again on the frame padded by a border, where detectors trained on
whole photos find them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import cv2
import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.faces import DETECTORS, Detector, Face, largest, open_detector

Method = Literal[
    "landmarks", "eyes", "box", "frame", "centre"
]  # centre: caches of mpt-edge 0.1.x builds from before landmark alignment (whole frame, no face)
ALIGNED_ON_A_FACE = ("landmarks", "eyes", "box")
# Where the landmarks go, in fractions of a face box (margin 0): eye centres and mouth centre of a
# frontal face, as a Haar box frames them (so crops keep the framing the earlier models were trained on).
CANONICAL = {"right_eye": (0.30, 0.38), "left_eye": (0.70, 0.38), "mouth": (0.50, 0.78)}
DEFAULT_MARGIN = 0.15  # border around the canonical face box, as a fraction of it, on each side
PAD_RETRY = 0.6  # border (fraction of the frame) for the second look at a frame the face may fill


class NoFaceError(InputError):
    """No face on the frame a clip is aligned on."""


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, translation) taking ``source`` points to
    ``target`` points (Umeyama's closed form, no reflection)."""
    mean_s, mean_t = source.mean(0), target.mean(0)
    s, t = source - mean_s, target - mean_t
    a = (s * t).sum()  # sum of dot products
    b = (s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]).sum()  # sum of cross products
    norm = (s**2).sum()
    if norm <= 1e-12:
        raise InputError("landmarks coincide; cannot align on them")
    ca, sa = a / norm, b / norm
    rotation = np.array([[ca, -sa], [sa, ca]])
    return np.hstack([rotation, (mean_t - rotation @ mean_s)[:, None]])


@dataclass(frozen=True)
class Alignment:
    """A similarity transform from frame pixels to the face crop, and how it was found."""

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    method: Method
    box: tuple[int, int, int, int] | None  # x, y, w, h of the detected face on the source frame
    face_size: int
    detector: str = ""  # what found the face (haar, blazeface, mtcnn; none: the frame is the crop)

    @property
    def scale(self) -> float:
        """Crop pixels per source pixel."""
        (a, b, _), _ = self.matrix
        return math.hypot(a, b)

    def apply(self, frame: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """The face crop of ``frame`` (any frame of the clip: onset, apex, ...), its content moved by
        ``shift`` crop pixels (the runtime's head-motion compensation).

        ``warpAffine`` samples bilinearly (it has no area mode): shrinking a 1080p face by 3x that way
        keeps one source pixel in nine and all their noise. So a face more than 2x larger than the
        crop is first area-averaged (``cv2.resize`` INTER_AREA on its own region only, never the whole
        frame) to twice the crop's size, then warped.
        """
        matrix = np.asarray(self.matrix, np.float64).copy()
        matrix[:, 2] += shift
        size = self.face_size
        if self.scale < 0.5 and frame.ndim in (2, 3):
            inverse = cv2.invertAffineTransform(matrix)
            corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inverse.T
            height, width = frame.shape[:2]
            x0, y0 = (max(0, int(math.floor(v)) - 2) for v in corners.min(0))
            x1, y1 = (
                min(width, int(math.ceil(corners[:, 0].max())) + 2),
                min(height, int(math.ceil(corners[:, 1].max())) + 2),
            )
            if x1 - x0 >= 8 and y1 - y0 >= 8:
                factor = 2 * self.scale
                region = frame[y0:y1, x0:x1]
                shrunk = cv2.resize(
                    region,
                    (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))),
                    interpolation=cv2.INTER_AREA,
                )
                fx, fy = shrunk.shape[1] / (x1 - x0), shrunk.shape[0] / (y1 - y0)
                # source -> shrunk: p' = ((x - x0 + .5) * fx - .5, ...); fold it into the crop transform
                to_shrunk = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5], [0, 0, 1]])
                matrix = (np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(to_shrunk))[:2]
                frame = shrunk
        return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def moved(self, dx: float, dy: float) -> Alignment:
        """The same crop following the face ``(dx, dy)`` crop pixels (what the tracker measured)."""
        matrix = np.asarray(self.matrix, np.float64).copy()
        matrix[:, 2] -= (dx, dy)
        box = None
        if self.box is not None:
            inverse = cv2.invertAffineTransform(np.asarray(self.matrix, np.float64))[:, :2]
            fx, fy = inverse @ np.array([dx, dy])
            x, y, w, h = self.box
            box = (int(round(x + fx)), int(round(y + fy)), w, h)
        return Alignment.from_matrix(matrix, self.method, box, self.face_size, self.detector)

    def rescaled(self, factor: float) -> Alignment:
        """This alignment, found on a copy of the frame resized by ``factor``, for the full frame."""
        matrix = np.asarray(self.matrix, np.float64).copy()
        matrix[:, :2] *= factor
        box = None if self.box is None else tuple(int(round(v / factor)) for v in self.box)
        return Alignment.from_matrix(matrix, self.method, box, self.face_size, self.detector)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_matrix(
        cls,
        matrix: np.ndarray,
        method: Method,
        box: tuple[int, int, int, int] | None,
        face_size: int,
        detector: str = "",
    ) -> Alignment:
        return cls(tuple(map(tuple, np.asarray(matrix, np.float64).tolist())), method, box, face_size, detector)  # type: ignore[arg-type]


class FaceAligner:
    """Detect on the onset, align every frame of the clip the same way."""

    def __init__(
        self,
        face_size: int = 224,
        detector: str = "blazeface",
        margin: float = DEFAULT_MARGIN,
        min_face: int = 48,
        engine: str = "auto",
    ) -> None:
        if detector not in DETECTORS:
            raise InputError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
        if face_size < 32 or not 0 <= margin < 1:
            raise InputError(f"face_size={face_size} (need >= 32) and margin={margin} (need 0..1)")
        self.face_size, self.detector, self.margin, self.min_face = face_size, detector, margin, min_face
        # open now: a missing model or cascade fails here, with the fix, not mid-data set
        self.model: Detector | None = None if detector == "none" else open_detector(detector, engine, min_face)

    def faces(self, frame: np.ndarray) -> list[Face]:
        """Every face on the frame; if none, a second look with the frame padded (a face that fills it)."""
        if self.model is None:
            return []
        found = self.model.detect(frame)
        if found:
            return found
        height, width = frame.shape[:2]
        pad = int(round(PAD_RETRY * max(height, width)))
        padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        return [_shifted(f, -pad) for f in self.model.detect(padded)]

    def alignment_of(self, face: Face) -> Alignment:
        """The crop transform for one found face (its landmarks where it has them)."""
        side = self.face_size
        scale = side / (1 + 2 * self.margin)
        canonical = {k: ((self.margin + u) * scale, (self.margin + v) * scale) for k, (u, v) in CANONICAL.items()}
        if face.eyes is not None and face.mouth is not None:
            source = np.array([face.eyes[0], face.eyes[1], face.mouth], np.float64)
            target = np.array([canonical["right_eye"], canonical["left_eye"], canonical["mouth"]], np.float64)
            return Alignment.from_matrix(similarity(source, target), "landmarks", face.int_box, side, self.detector)
        x, y, w, h = face.box
        centre, box_side = (x + w / 2.0, y + h / 2.0), max(w, h) * (1 + 2 * self.margin)
        if face.eyes is not None:
            (lx, ly), (rx, ry) = face.eyes
            return self._to_square(centre, box_side, math.degrees(math.atan2(ry - ly, rx - lx)), "eyes", face.int_box)
        return self._to_square(centre, box_side, 0.0, "box", face.int_box)

    def find(self, onset: np.ndarray, detect_width: int | None = None) -> Alignment | None:
        """The alignment of a clip, computed on its onset frame, or None if it shows no face — on a copy
        at most ``detect_width`` pixels wide when given (a face stays findable at 480 px), mapped back
        to the full frame so the crop keeps the full resolution."""
        if not isinstance(onset, np.ndarray) or onset.ndim not in (2, 3) or onset.size == 0:
            raise InputError(
                f"onset frame must be an HxW or HxWx3 image, got {getattr(onset, 'shape', type(onset).__name__)}"
            )
        height, width = onset.shape[:2]
        if self.model is None:
            return self._to_square((width / 2.0, height / 2.0), min(height, width), 0.0, "frame", None)
        if detect_width and width > detect_width:
            factor = detect_width / width
            small = cv2.resize(onset, (detect_width, max(1, round(height * factor))), interpolation=cv2.INTER_AREA)
            found = self.find(small)
            return None if found is None else found.rescaled(factor)
        face = largest(self.faces(onset))
        return None if face is None else self.alignment_of(face)

    def align(self, onset: np.ndarray, detect_width: int | None = None) -> Alignment:
        """:meth:`find`, with a clear error where the frame shows no face."""
        found = self.find(onset, detect_width)
        if found is None:
            raise NoFaceError(f"no face found by {self.detector} on the {onset.shape[1]}x{onset.shape[0]} onset frame")
        return found

    def _to_square(self, centre: tuple[float, float], side: float, angle: float, method: Method, box: Any) -> Alignment:
        scale = self.face_size / side
        matrix = cv2.getRotationMatrix2D(centre, angle, scale)
        matrix[:, 2] += np.array([self.face_size / 2.0, self.face_size / 2.0]) - np.array(centre)
        return Alignment.from_matrix(matrix, method, box, self.face_size, self.detector)

    def align_pair(self, onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray, Alignment]:
        """(onset crop, apex crop, alignment): one transform, found on the onset, for both frames."""
        if onset.shape != apex.shape:
            raise InputError(
                f"onset {onset.shape} and apex {apex.shape} frames differ in size; frames of one "
                "clip must share one size"
            )
        alignment = self.align(onset)
        return alignment.apply(onset), alignment.apply(apex), alignment


def _shifted(face: Face, offset: float) -> Face:
    """A face found on a padded frame, in the unpadded frame's pixels."""
    x, y, w, h = face.box

    def move(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] + offset, p[1] + offset)

    eyes = None if face.eyes is None else (move(face.eyes[0]), move(face.eyes[1]))
    return Face(
        (x + offset, y + offset, w, h),
        face.score,
        eyes,
        None if face.mouth is None else move(face.mouth),
        None if face.points is None else face.points + offset,
        face.source,
    )
