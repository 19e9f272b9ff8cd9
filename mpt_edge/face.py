"""Face detection and alignment shared by training (``mpt-edge prepare``) and the runtime.

Detector: OpenCV's Haar cascades (frontal face + eyes). They are the one detector whose weights ship
inside a registry package (``opencv-python`` < 5 bundles them in ``cv2.data``), so nothing is ever
downloaded. Alignment is computed on the **onset** frame only and the *same* similarity transform is
applied to the apex, so the transform itself cannot create or hide onset->apex motion:

1. the largest frontal face box on the onset frame (grayscale, histogram-equalised);
2. if both eyes are found in the upper half of that box, the face is rotated so that the eye line is
   level (method ``eyes``), otherwise it is only cropped (method ``box``);
3. the box, enlarged by ``margin`` on every side, is mapped to a ``face_size`` square.

When no face is found (data sets that ship pre-cropped faces, tiny frames), the centred square of the
frame is used and the alignment says so (method ``centre``): callers count and report these, they
never happen silently. A better landmark aligner was looked for: OpenCV 5's YuNet and the LBF facemark
need model files from outside PyPI, and mediapipe pulls opencv-contrib beside opencv-python; none
installs offline from the registry alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

from mpt_edge.errors import InputError, MptEdgeError

Method = Literal["eyes", "box", "centre"]
DETECTORS = ("haar", "none")


@dataclass(frozen=True)
class Alignment:
    """A similarity transform from frame pixels to the face crop, and how it was found."""

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    method: Method
    box: tuple[int, int, int, int] | None  # x, y, w, h of the detected face on the source frame
    face_size: int

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
            x1, y1 = min(width, int(math.ceil(corners[:, 0].max())) + 2), min(height, int(math.ceil(corners[:, 1].max())) + 2)
            if x1 - x0 >= 8 and y1 - y0 >= 8:
                factor = 2 * self.scale
                region = frame[y0:y1, x0:x1]
                shrunk = cv2.resize(region, (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))), interpolation=cv2.INTER_AREA)
                fx, fy = shrunk.shape[1] / (x1 - x0), shrunk.shape[0] / (y1 - y0)
                # source -> shrunk: p' = ((x - x0 + .5) * fx - .5, ...); fold it into the crop transform
                to_shrunk = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5], [0, 0, 1]])
                matrix = (np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(to_shrunk))[:2]
                frame = shrunk
        return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def moved(self, dx: float, dy: float) -> "Alignment":
        """The same crop following the face ``(dx, dy)`` crop pixels (what the tracker measured)."""
        matrix = np.asarray(self.matrix, np.float64).copy()
        matrix[:, 2] -= (dx, dy)
        box = None
        if self.box is not None:
            inverse = cv2.invertAffineTransform(np.asarray(self.matrix, np.float64))[:, :2]
            fx, fy = inverse @ np.array([dx, dy])
            x, y, w, h = self.box
            box = (int(round(x + fx)), int(round(y + fy)), w, h)
        return Alignment.from_matrix(matrix, self.method, box, self.face_size)

    def rescaled(self, factor: float) -> "Alignment":
        """This alignment, found on a copy of the frame resized by ``factor``, for the full frame."""
        matrix = np.asarray(self.matrix, np.float64).copy()
        matrix[:, :2] *= factor
        box = None if self.box is None else tuple(int(round(v / factor)) for v in self.box)
        return Alignment.from_matrix(matrix, self.method, box, self.face_size)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, method: Method, box: tuple[int, int, int, int] | None, face_size: int) -> "Alignment":
        return cls(tuple(map(tuple, np.asarray(matrix, np.float64).tolist())), method, box, face_size)  # type: ignore[arg-type]


@lru_cache(maxsize=None)
def _cascade(name: str) -> "cv2.CascadeClassifier":
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not hasattr(cv2, "CascadeClassifier"):
        raise MptEdgeError(
            f"OpenCV {cv2.__version__} has no bundled Haar cascades; install opencv-python>=4.8,<5 (pip install 'opencv-python<5') or pass --face none"
        )
    cascade = cv2.CascadeClassifier(folder + name)
    if cascade.empty():
        raise MptEdgeError(f"cannot load {folder + name}; reinstall opencv-python<5 or pass --face none")
    return cascade


class FaceAligner:
    """Detect on the onset, align every frame of the clip the same way."""

    def __init__(self, face_size: int = 224, detector: str = "haar", margin: float = 0.15, min_face: int = 48) -> None:
        if detector not in DETECTORS:
            raise InputError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
        if face_size < 32 or not 0 <= margin < 1:
            raise InputError(f"face_size={face_size} (need >= 32) and margin={margin} (need 0..1)")
        self.face_size, self.detector, self.margin, self.min_face = face_size, detector, margin, min_face
        if detector == "haar":
            _cascade("haarcascade_frontalface_default.xml")  # fail now, with the fix, not mid-data set

    def detect(self, frame: np.ndarray) -> tuple[int, int, int, int] | None:
        """Largest frontal face (x, y, w, h), or None."""
        if self.detector == "none":
            return None
        gray = cv2.equalizeHist(_gray_uint8(frame))
        size = min(gray.shape[:2])
        minimum = min(self.min_face, max(16, size // 4))
        faces = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(gray, 1.1, 5, minSize=(minimum, minimum))
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        return int(x), int(y), int(w), int(h)

    def eyes(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Centres of the left and right eye (image left/right) inside the upper half of ``box``."""
        x, y, w, h = box
        gray = cv2.equalizeHist(_gray_uint8(frame)[y : y + h // 2, x : x + w])
        found = _cascade("haarcascade_eye.xml").detectMultiScale(gray, 1.1, 5, minSize=(max(8, w // 10), max(8, w // 10)))
        if len(found) < 2:
            return None
        two = sorted(found, key=lambda e: e[2] * e[3], reverse=True)[:2]
        centres = sorted(((x + ex + ew / 2.0, y + ey + eh / 2.0) for ex, ey, ew, eh in two))
        (lx, ly), (rx, ry) = centres
        if rx - lx < w * 0.2 or abs(math.degrees(math.atan2(ry - ly, rx - lx))) > 30:  # not a plausible eye pair
            return None
        return (lx, ly), (rx, ry)

    def align(self, onset: np.ndarray, detect_width: int | None = None) -> Alignment:
        """The alignment of a clip, computed on its onset frame — on a copy at most ``detect_width``
        pixels wide when given (Haar on a 1080p frame costs ~0.3 s; a face stays findable at 480 px),
        mapped back to the full frame so the crop keeps the full resolution."""
        if not isinstance(onset, np.ndarray) or onset.ndim not in (2, 3) or onset.size == 0:
            raise InputError(f"onset frame must be an HxW or HxWx3 image, got {getattr(onset, 'shape', type(onset).__name__)}")
        height, width = onset.shape[:2]
        if detect_width and width > detect_width:
            factor = detect_width / width
            small = cv2.resize(onset, (detect_width, max(1, round(height * factor))), interpolation=cv2.INTER_AREA)
            return self.align(small).rescaled(factor)
        box = self.detect(onset)
        if box is None:
            side = min(height, width)
            return self._to_square((width / 2.0, height / 2.0), side, 0.0, "centre", None)
        x, y, w, h = box
        side = max(w, h) * (1 + 2 * self.margin)
        centre = (x + w / 2.0, y + h / 2.0)
        eyes = self.eyes(onset, box)
        if eyes is None:
            return self._to_square(centre, side, 0.0, "box", box)
        (lx, ly), (rx, ry) = eyes
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
        return self._to_square(centre, side, angle, "eyes", box)

    def _to_square(self, centre: tuple[float, float], side: float, angle: float, method: Method, box) -> Alignment:
        scale = self.face_size / side
        matrix = cv2.getRotationMatrix2D(centre, angle, scale)
        matrix[:, 2] += np.array([self.face_size / 2.0, self.face_size / 2.0]) - np.array(centre)
        return Alignment.from_matrix(matrix, method, box, self.face_size)

    def align_pair(self, onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray, Alignment]:
        """(onset crop, apex crop, alignment): one transform, found on the onset, for both frames."""
        if onset.shape != apex.shape:
            raise InputError(f"onset {onset.shape} and apex {apex.shape} frames differ in size; frames of one clip must share one size")
        alignment = self.align(onset)
        return alignment.apply(onset), alignment.apply(apex), alignment


def _gray_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        frame = np.clip(frame.astype(np.float32) * (255.0 if frame.dtype.kind == "f" else 1.0), 0, 255).astype(np.uint8)
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
