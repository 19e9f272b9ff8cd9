"""Atomic file writes: an artifact is either complete on disk or absent, never half written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mpt_edge.errors import InputError, MptEdgeError

if TYPE_CHECKING:
    import numpy as np  # noqa: F811


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


def read_image(path: str | os.PathLike[str], context: str = "", fix: str = "check the path") -> np.ndarray:
    """A BGR uint8 image; a missing or undecodable file is one clear error naming it (and ``context``)."""
    import cv2
    import numpy as np

    path = Path(path)
    where = f" ({context})" if context else ""
    if not path.is_file():
        raise InputError(f"image {path} does not exist{where}; {fix}")
    data = path.read_bytes()
    if is_truncated_jpeg(data):
        raise InputError(
            f"image {path}{where} is a truncated JPEG (its end marker is missing: the rest would be grey); {fix}"
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot decode image {path}{where}: not a readable PNG/JPEG/BMP; {fix}")
    return image


def is_truncated_jpeg(data: bytes) -> bool:
    """A JPEG without its end-of-image marker: libjpeg decodes such a file anyway, filling the missing
    rows with grey and saying so only on stderr ("Premature end of JPEG file"). Writers may pad the
    file after the marker, so trailing zero and whitespace bytes are ignored."""
    return data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
