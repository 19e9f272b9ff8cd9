"""``mpt-edge faces detect``: a detector on the user's own images — what it finds, where its landmarks fall,
how long it takes; with ``draw`` each image is written with its boxes and landmarks (nothing otherwise)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.faces import Face


@dataclass(frozen=True)
class ImageFaces:
    image: Path
    detector: str
    faces: tuple[Face, ...]
    milliseconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": str(self.image),
            "detector": self.detector,
            "faces": [_face_dict(f) for f in self.faces],
            "ms": round(self.milliseconds, 1),
        }


def _face_dict(face: Face) -> dict[str, Any]:
    return {
        "box": [round(float(v), 1) for v in face.box],
        "score": round(float(face.score), 3),
        "landmarks": face.source,
        "eyes": None if face.eyes is None else [[round(float(v), 1) for v in p] for p in face.eyes],
        "mouth": None if face.mouth is None else [round(float(v), 1) for v in face.mouth],
    }


def detect_images(images: Sequence[Path], detector_name: str, draw: Path | None = None) -> Iterator[ImageFaces]:
    """The faces on each image, one image at a time (a bad image is a one-line error naming it)."""
    from mpt_edge.faces import open_detector

    if detector_name == "none":
        raise InputError("--face none detects nothing; choose blazeface, mtcnn or haar")
    detector = open_detector(detector_name)
    if draw is not None:
        draw.mkdir(parents=True, exist_ok=True)
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            raise InputError(f"{path}: not a readable image (missing, or not JPEG/PNG/...); check the path")
        start = time.perf_counter()
        faces = detector.detect(image)
        found = ImageFaces(path, detector_name, tuple(faces), (time.perf_counter() - start) * 1000)
        if draw is not None:
            _draw(image, found, draw / f"{path.stem}.{detector_name}.png")
        yield found


def _draw(image: np.ndarray, found: ImageFaces, out: Path) -> None:
    shown = image.copy()
    for f in found.faces:
        x, y, w, h = f.int_box
        cv2.rectangle(shown, (x, y), (x + w, y + h), (0, 255, 0), 2)
        for px, py in f.points if f.points is not None else []:
            cv2.circle(shown, (int(px), int(py)), 1, (0, 0, 255), -1)
        for px, py in f.eyes or []:
            cv2.circle(shown, (int(px), int(py)), 3, (255, 0, 0), -1)
    if not cv2.imwrite(str(out), shown):
        raise InputError(f"cannot write {out}; check the --draw folder")
