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

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The face crop of ``frame`` (any frame of the clip: onset, apex, ...)."""
        return cv2.warpAffine(frame, np.asarray(self.matrix, np.float64), (self.face_size, self.face_size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


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

    def align(self, onset: np.ndarray) -> Alignment:
        """The alignment of a clip, computed on its onset frame."""
        if not isinstance(onset, np.ndarray) or onset.ndim not in (2, 3) or onset.size == 0:
            raise InputError(f"onset frame must be an HxW or HxWx3 image, got {getattr(onset, 'shape', type(onset).__name__)}")
        height, width = onset.shape[:2]
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
        return Alignment(tuple(map(tuple, matrix.tolist())), method, box, self.face_size)  # type: ignore[arg-type]

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
