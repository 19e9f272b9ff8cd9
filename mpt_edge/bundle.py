"""The deployable bundle (DESIGN §2): a folder, or a tar of it, that the device runs from alone.

    BUNDLE/manifest.json   schema version, target, backend, precision, model + motion configs, class
                           names, input/output names and shapes, sha256 of every other file, the
                           metrics it was validated with
    BUNDLE/<model files>   e.g. model_int8.xml + .bin (OpenVINO), model_int8_qdq.onnx + build scripts (Jetson)

Writing is atomic (a temp folder renamed into place: a failed build leaves no half bundle).
Loading verifies the schema version and every file's hash; unpacking a tar refuses members that
would land outside the target folder, links, and files the manifest does not list or whose hash
differs. The runtime reads *everything* from the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional, Any, Iterator

from mpt_edge import __version__
from mpt_edge.errors import InputError
from mpt_edge.io import atomic_write_bytes
from mpt_edge.motion.config import MotionConfig

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: dict[str, Any]

    @property
    def motion_config(self) -> MotionConfig:
        return MotionConfig.from_dict(self.manifest["motion_config"])

    @property
    def face_detector(self) -> Optional[str]:
        """The detector that aligned the model's training faces (None: rendered crops, or a bundle of
        mpt-edge 0.1.0 before landmark alignment): the device aligns with the same one by default."""
        return (self.manifest.get("face") or {}).get("detector")

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    @property
    def backend(self) -> str:
        return str(self.manifest["backend"])

    def path(self, role: str) -> Path:
        """The file playing ``role`` (``model``, ``engine``, ...) as the manifest names it."""
        name = self.manifest["roles"].get(role)
        if name is None:
            raise InputError(f"bundle {self.root} has no {role} file; rebuild it with `mpt-edge build`")
        return self.root / name


@contextmanager
def _staging(out: Path, when_not_empty: str) -> Iterator[Path]:
    """A temp folder beside ``out`` that becomes ``out`` on success and vanishes on any failure."""
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} already exists and is not empty; {when_not_empty}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bundle(out: Path, files: dict[str, Path], manifest: dict[str, Any]) -> Bundle:
    """Copy ``files`` (name in bundle -> source) and the manifest into ``out``, atomically."""
    with _staging(Path(out), "choose another --out or delete it") as tmp:
        hashes = {}
        for name, source in files.items():
            _check_member_name(name)
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            hashes[name] = sha256_file(target)
        full = {"schema_version": SCHEMA_VERSION, "mpt_edge_version": __version__, **manifest, "files": hashes}
        atomic_write_bytes(tmp / MANIFEST, (json.dumps(full, indent=2) + "\n").encode())
    return Bundle(Path(out), full)


def _check_member_name(name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or name != path.as_posix():
        raise InputError(f"bundle member {name!r} is not a plain relative path")


def load_bundle(root: Path, verify: bool = True) -> Bundle:
    """A bundle folder, schema- and hash-checked: one clear error for anything missing or altered."""
    root = Path(root)
    if root.is_file() and tarfile.is_tarfile(root):
        raise InputError(f"{root} is a packed bundle; unpack it first with `mpt-edge unpack {root} --out DIR`")
    path = root / MANIFEST
    if not path.is_file():
        raise InputError(f"{root} is not an mpt-edge bundle (no {MANIFEST}); build one with `mpt-edge build`")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as error:
        raise InputError(f"{path} is not valid JSON ({error}); rebuild the bundle") from None
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(f"bundle {root} has schema version {version} (written by mpt-edge {manifest.get('mpt_edge_version', '?')}); "
                         f"this mpt-edge {__version__} reads {SCHEMA_VERSION}: rebuild the bundle or use the matching mpt-edge")
    for key in ("backend", "precision", "model_config", "motion_config", "class_names", "inputs", "outputs", "files", "roles"):
        if key not in manifest:
            raise InputError(f"{path} lacks {key!r}; the bundle is damaged: rebuild it")
    if verify:
        for name, expected in manifest["files"].items():
            _check_member_name(name)
            file = root / name
            if not file.is_file():
                raise InputError(f"bundle {root} is missing {name}; copy the whole bundle again or rebuild it")
            if sha256_file(file) != expected:
                raise InputError(f"bundle file {file} does not match its sha256 in {MANIFEST} (altered or corrupt); copy the bundle again or rebuild it")
    return Bundle(root, manifest)


def pack_bundle(root: Path, tar_path: Path) -> Path:
    """A .tar of a verified bundle (manifest first), written atomically."""
    bundle = load_bundle(root)
    tar_path = Path(tar_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{tar_path.name}.", dir=tar_path.parent if str(tar_path.parent) else ".")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w") as archive:
            archive.add(root / MANIFEST, arcname=MANIFEST)
            for name in sorted(bundle.manifest["files"]):
                archive.add(root / name, arcname=name)
        os.replace(tmp, tar_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tar_path


def unpack_bundle(tar_path: Path, out: Path) -> Bundle:
    """Extract a packed bundle into ``out`` safely, then verify it; nothing is left behind on failure."""
    tar_path, out = Path(tar_path), Path(out)
    if not tar_path.is_file() or not tarfile.is_tarfile(tar_path):
        raise InputError(f"{tar_path} is not a tar archive; pass the .tar written by `mpt-edge build --tar`")
    with _staging(out, "unpack into a new folder") as tmp:
        with tarfile.open(tar_path) as archive:
            members = archive.getmembers()
            for member in members:
                target = (tmp / member.name).resolve()
                if not member.isfile() and not member.isdir():
                    raise InputError(f"{tar_path}: member {member.name!r} is a link or device; refusing to unpack")
                if member.name.startswith("/") or ".." in PurePosixPath(member.name).parts or not str(target).startswith(str(tmp.resolve()) + os.sep):
                    raise InputError(f"{tar_path}: member {member.name!r} would be written outside {out}; refusing to unpack")
            archive.extractall(tmp, members=members, filter="data")
        bundle = load_bundle(tmp)
        listed = set(bundle.manifest["files"]) | {MANIFEST}
        extra = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file() and str(p.relative_to(tmp)) not in listed)
        if extra:
            raise InputError(f"{tar_path} holds files its manifest does not list ({', '.join(extra[:3])}); refusing to unpack")
    return Bundle(out, bundle.manifest)  # verified in the staging folder, renamed whole: no second hashing pass
