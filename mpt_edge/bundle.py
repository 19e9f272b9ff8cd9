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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mpt_edge import __version__
from mpt_edge.errors import InputError
from mpt_edge.io import atomic_write_bytes
from mpt_edge.manifest import MANIFEST, SCHEMA_VERSION, Manifest, check_member_name, parse_manifest
from mpt_edge.motion.config import MotionConfig

# What a bundle tar may hold, checked on the members' headers before a byte is extracted: the largest
# model shipped (mpt-base FP32 + INT8, OpenVINO) is ~0.5 GB; a 2 GiB sparse member is refused unread.
MAX_TAR_MEMBERS = 256
MAX_MEMBER_BYTES = 1 << 30
MAX_TAR_BYTES = 3 << 30
MAX_MANIFEST_BYTES = 4 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class BundleFiles:
    """A verified bundle folder and its typed manifest: what the engines, the stream and the tools read.
    The public handle that also runs it is :class:`mpt_edge.Bundle` (``mpt_edge.api``)."""

    root: Path
    manifest: Manifest

    @property
    def motion_config(self) -> MotionConfig:
        return self.manifest.motion_config

    @property
    def face_detector(self) -> str | None:
        """The detector that aligned the model's training faces: the device aligns with the same one by default."""
        return self.manifest.face_detector

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest.class_names)

    @property
    def backend(self) -> str:
        return self.manifest.backend

    @property
    def precision(self) -> str:
        """The target's precision (int8, fp16 or fp32); a CPU bundle may carry both (mpt_edge.precision)."""
        return self.manifest.precision

    @property
    def models(self) -> dict[str, str]:
        """precision -> role of the model of each precision the bundle carries (a CPU bundle: int8 and
        fp32; older bundles: their one model). Which one runs is :func:`mpt_edge.precision.resolve_precision`'s."""
        return dict(self.manifest.precisions)

    @property
    def inputs(self) -> dict[str, list[int]]:
        """The model's input names and shapes, in the model's order."""
        return {name: list(shape) for name, shape in self.manifest.inputs.items()}

    @property
    def outputs(self) -> dict[str, list[int]]:
        return {name: list(shape) for name, shape in self.manifest.outputs.items()}

    @property
    def target_name(self) -> str:
        return self.manifest.target_name

    @property
    def target_options(self) -> dict[str, Any]:
        """The target's backend options (mpt_edge.backends reads them with their defaults)."""
        return dict(self.manifest.target_options)

    @property
    def files(self) -> dict[str, str]:
        """Every file the bundle holds, with its sha256."""
        return dict(self.manifest.files)

    def path(self, role: str) -> Path:
        """The file playing ``role`` (``model``, ``engine``, ...): a plain relative path the manifest lists
        (:mod:`mpt_edge.manifest`), and inside the bundle folder once resolved."""
        name = self.manifest.roles.get(role)
        if name is None:
            raise InputError(f"bundle {self.root} has no {role} file; rebuild it with `mpt-edge build`")
        check_member_name(name, f"bundle {self.root}")
        path = self.root / name
        if not _inside(path, self.root):
            raise InputError(
                f"bundle {self.root}: the {role} file {name} resolves outside the bundle; rebuild the bundle"
            )
        return Path(path)


@contextmanager
def _staging(out: Path, when_not_empty: str, overwrite: bool = False) -> Iterator[Path]:
    """A temp folder beside ``out`` that becomes ``out`` on success and vanishes on any failure.

    ``out`` must be missing or empty unless ``overwrite``: then the old folder is replaced only once the
    new one is complete. Two writers racing for one ``out``: the second is refused, nothing replaced."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is an existing file, not a folder; choose a folder (it is created if missing)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} already exists and is not empty; {when_not_empty}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        _move_into_place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    old = None
    try:
        if out.exists() and overwrite and any(out.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
        elif out.exists():
            out.rmdir()  # empty, as checked; fails if another writer filled it meanwhile
        os.replace(tmp, out)
    except OSError as error:
        if old is not None and not out.exists():
            os.replace(old / out.name, out)  # put the user's folder back
        raise InputError(
            f"{out} was written by another command meanwhile ({os.strerror(error.errno or 0)}); "
            "nothing was replaced: run one command per output folder"
        ) from error
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_bundle(out: Path, files: dict[str, Path], manifest: dict[str, Any], overwrite: bool = False) -> BundleFiles:
    """Copy ``files`` (name in bundle -> source) and the manifest into ``out``, atomically."""
    with _staging(Path(out), "choose another --out, or pass --overwrite to replace it", overwrite) as tmp:
        hashes = {}
        for name, source in files.items():
            check_member_name(name)
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            hashes[name] = sha256_file(target)
        full = {"schema_version": SCHEMA_VERSION, "mpt_edge_version": __version__, **manifest, "files": hashes}
        spec = parse_manifest(full, str(out), __version__)  # what the device will check, checked before it is written
        atomic_write_bytes(tmp / MANIFEST, (json.dumps(full, indent=2) + "\n").encode())
    return BundleFiles(Path(out), spec)


def decode_manifest(raw: bytes, where: str) -> Manifest:
    """A manifest's bytes (a folder's file or a tar member) parsed and validated
    (:func:`mpt_edge.manifest.parse_manifest`); ``where`` names the bundle to the user."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{where}: {MANIFEST} is not valid JSON ({error}); rebuild the bundle") from None
    return parse_manifest(data, where, __version__)


def _verify_files(root: Path, manifest: Manifest, where: str) -> None:
    for name, expected in manifest.files.items():
        file = root / name
        if file.is_symlink() or not file.is_file():
            raise InputError(f"bundle {where} is missing {name}; copy the whole bundle again or rebuild it")
        if not _inside(file, root):
            raise InputError(f"bundle {where}: {name} resolves outside the bundle; copy the bundle again or rebuild it")
        if sha256_file(file) != expected:
            raise InputError(
                f"bundle file {Path(where) / name} does not match its sha256 in {MANIFEST} "
                "(altered or corrupt); copy the bundle again or rebuild it"
            )
    _check_external_data(root, manifest, where)


def _check_external_data(root: Path, manifest: Manifest, where: str) -> None:
    """Every file an ONNX model of the bundle loads besides itself (external data) listed, so hashed:
    ONNX Runtime and OpenVINO would read an unlisted ``w.bin`` beside the model unchecked."""
    from mpt_edge.onnx_files import external_files

    for name in sorted(n for n in manifest.files if n.endswith(".onnx")):
        folder = PurePosixPath(name).parent
        for location in external_files(root / name):
            member = (folder / location).as_posix() if str(folder) != "." else location
            check_member_name(member, f"bundle {where}: external data of {name}")
            if member not in manifest.files:
                raise InputError(
                    f"bundle {where}: {name} loads external data {location!r}, which {MANIFEST} does not "
                    "list (nothing unverified is loaded); rebuild the bundle"
                )


def _inside(path: Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root)))


def load_bundle(root: Path, verify: bool = True, where: str | None = None) -> BundleFiles:
    """A bundle folder, schema- and hash-checked: one clear error for anything missing or altered.
    ``where``: how to name the bundle in errors (default: ``root``)."""
    root = Path(root)
    where = where or str(root)
    if root.is_file() and tarfile.is_tarfile(root):
        raise InputError(f"{root} is a packed bundle; unpack it first with `mpt-edge unpack {root} --out DIR`")
    path = root / MANIFEST
    if not path.is_file():
        raise InputError(f"{where} is not an mpt-edge bundle (no {MANIFEST}); build one with `mpt-edge build`")
    manifest = decode_manifest(path.read_bytes(), where)
    if verify:
        _verify_files(root, manifest, where)
    return BundleFiles(root, manifest)


def pack_bundle(root: Path, tar_path: Path) -> Path:
    """A .tar of a verified bundle (manifest first), written atomically."""
    bundle = load_bundle(root)
    tar_path = Path(tar_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{tar_path.name}.", dir=tar_path.parent if str(tar_path.parent) else ".")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w") as archive:
            archive.add(root / MANIFEST, arcname=MANIFEST)
            for name in sorted(bundle.manifest.files):
                archive.add(root / name, arcname=name)
        os.replace(tmp, tar_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tar_path


def _check_tar_members(archive: tarfile.TarFile, tar_path: Path, out: Path) -> list[tarfile.TarInfo]:
    """Every member's header checked before anything is extracted: count, type, name, size."""
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in archive:  # headers only: no member's data is read here
        members.append(member)
        if len(members) > MAX_TAR_MEMBERS:
            raise InputError(
                f"{tar_path} holds more than {MAX_TAR_MEMBERS} members; a bundle has a handful: refusing to unpack"
            )
        if not member.isfile() and not member.isdir():
            raise InputError(f"{tar_path}: member {member.name!r} is a link or device; refusing to unpack")
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts or "\\" in member.name:
            raise InputError(f"{tar_path}: member {member.name!r} would be written outside {out}; refusing to unpack")
        if member.size > MAX_MEMBER_BYTES:
            raise InputError(
                f"{tar_path}: member {member.name!r} is {member.size / 2**30:.1f} GiB, more than any bundle file "
                f"({MAX_MEMBER_BYTES >> 20} MiB); refusing to unpack"
            )
        total += member.size
        if total > MAX_TAR_BYTES:
            raise InputError(f"{tar_path} unpacks to more than {MAX_TAR_BYTES >> 30} GiB; refusing to unpack")
    return members


def unpack_bundle(tar_path: Path, out: Path, overwrite: bool = False) -> BundleFiles:
    """Extract a packed bundle into ``out`` safely, then verify it; nothing is left behind on failure.

    The members' headers are checked first (count, size, type, name), then the manifest is read and
    validated, and only the files it lists are extracted; every error names the tar, not the
    temporary folder it was being unpacked into."""
    tar_path, out = Path(tar_path), Path(out)
    if not tar_path.is_file() or not tarfile.is_tarfile(tar_path):
        raise InputError(f"{tar_path} is not a tar archive; pass the .tar written by `mpt-edge build --tar`")
    where = str(tar_path)
    try:
        return _unpack(tar_path, out, overwrite, where)
    except (tarfile.TarError, EOFError) as error:
        raise InputError(
            f"{tar_path} is damaged or truncated ({error}); copy it again or rebuild it with `mpt-edge build --tar`"
        ) from error


def _unpack(tar_path: Path, out: Path, overwrite: bool, where: str) -> BundleFiles:
    with _staging(out, "unpack into a new folder, or pass --overwrite to replace it", overwrite) as tmp:
        with tarfile.open(tar_path) as archive:
            members = _check_tar_members(archive, tar_path, out)
            by_name = {PurePosixPath(m.name).as_posix(): m for m in members if m.isfile()}
            head = by_name.get(MANIFEST)
            if head is None:
                raise InputError(
                    f"{tar_path} holds no {MANIFEST}: not an mpt-edge bundle; pass the .tar written "
                    "by `mpt-edge build --tar`"
                )
            if head.size > MAX_MANIFEST_BYTES:
                raise InputError(
                    f"{tar_path}: its {MANIFEST} is {head.size >> 20} MiB, not a manifest; refusing to unpack"
                )
            handle = archive.extractfile(head)
            assert handle is not None
            manifest = decode_manifest(handle.read(), where)
            extra = sorted(name for name in by_name if name != MANIFEST and name not in manifest.files)
            if extra:
                raise InputError(
                    f"{tar_path} holds files its manifest does not list ({', '.join(extra[:3])}); refusing to unpack"
                )
            wanted = [m for m in members if m.isfile()]
            archive.extractall(tmp, members=wanted, filter="data")
        bundle = load_bundle(tmp, where=where)
    return BundleFiles(out, bundle.manifest)  # verified in the staging folder, renamed whole: no second hashing pass
