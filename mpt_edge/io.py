"""Atomic file writes: an artifact is either complete on disk or absent, never half written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from typing import TYPE_CHECKING

from mpt_edge.errors import InputError, MptEdgeError

if TYPE_CHECKING:
    import numpy as np


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and an atomic rename."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise MptEdgeError(f"cannot write {target}: folder {folder} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_image(path: str | os.PathLike[str], context: str = "", fix: str = "check the path") -> "np.ndarray":
    """A BGR uint8 image; a missing or undecodable file is one clear error naming it (and ``context``)."""
    import cv2

    path = Path(path)
    where = f" ({context})" if context else ""
    if not path.is_file():
        raise InputError(f"image {path} does not exist{where}; {fix}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot decode image {path}{where}: not a readable PNG/JPEG/BMP; {fix}")
    return image
