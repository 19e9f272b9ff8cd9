"""OpenCV's Haar cascades (frontal face, then eyes in its upper half): the fallback detector.

Their weights ship inside ``opencv-python`` < 5 (``cv2.data``), so they work where the face models are
not installed; they give eye *boxes* only (no mouth, no landmarks to track).
"""

from __future__ import annotations

import math
from functools import cache

import cv2
import numpy as np

from mpt_edge.errors import MptEdgeError
from mpt_edge.faces import Face


@cache
def cascade(name: str) -> cv2.CascadeClassifier:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not hasattr(cv2, "CascadeClassifier"):
        raise MptEdgeError(
            f"OpenCV {cv2.__version__} has no bundled Haar cascades; install "
            "opencv-python>=4.8,<5 (pip install 'opencv-python<5'), or the face models "
            "(mpt-edge faces install) and pass --face blazeface"
        )
    loaded = cv2.CascadeClassifier(folder + name)
    if loaded.empty():
        raise MptEdgeError(f"cannot load {folder + name}; reinstall opencv-python<5 or pass --face none")
    return loaded


def gray_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        frame = np.clip(frame.astype(np.float32) * (255.0 if frame.dtype.kind == "f" else 1.0), 0, 255).astype(np.uint8)
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


class HaarDetector:
    name = "haar"

    def __init__(self, min_face: int = 48) -> None:
        cascade("haarcascade_frontalface_default.xml")  # fail now, with the fix, not mid-data set
        self.min_face = min_face

    def detect(self, frame: np.ndarray) -> list[Face]:
        raw = gray_uint8(frame)
        gray = cv2.equalizeHist(raw)
        minimum = min(self.min_face, max(16, min(gray.shape[:2]) // 4))
        found = cascade("haarcascade_frontalface_default.xml").detectMultiScale(
            gray, 1.1, 5, minSize=(minimum, minimum)
        )
        faces = []
        for x, y, w, h in sorted(found, key=lambda f: -f[2] * f[3]):
            box = (int(x), int(y), int(w), int(h))
            faces.append(Face(box, 1.0, self.eyes(raw, box), None, None, "haar"))
        return faces

    @staticmethod
    def eyes(
        gray: np.ndarray, box: tuple[int, int, int, int]
    ) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Centres of the image-left and image-right eye inside the upper half of ``box``."""
        x, y, w, h = box
        region = cv2.equalizeHist(gray[y : y + h // 2, x : x + w]) if gray.size else gray
        if region.size == 0:
            return None
        found = cascade("haarcascade_eye.xml").detectMultiScale(
            region, 1.1, 5, minSize=(max(8, w // 10), max(8, w // 10))
        )
        if len(found) < 2:
            return None
        two = sorted(found, key=lambda e: e[2] * e[3], reverse=True)[:2]
        (lx, ly), (rx, ry) = sorted(((x + ex + ew / 2.0, y + ey + eh / 2.0) for ex, ey, ew, eh in two))
        if rx - lx < w * 0.2 or abs(math.degrees(math.atan2(ry - ly, rx - lx))) > 30:  # not a plausible eye pair
            return None
        return (lx, ly), (rx, ry)
