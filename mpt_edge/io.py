"""Atomic file writes: an artifact is either complete on disk or absent, never half written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mpt_edge.errors import InputError, MptEdgeError
from mpt_edge.limits import check_image_size

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
    size = image_dimensions(data)
    if size is None:
        raise InputError(f"cannot decode image {path}{where}: not a readable PNG/JPEG/BMP; {fix}")
    check_image_size(*size, f"image {path}{where}")
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


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or BMP header, without decoding a pixel (None: none of these).

    Read first so that a small file claiming a huge image (an 875 KB PNG of 30000 x 30000 zeros) is
    refused before the decoder allocates it."""
    import struct

    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    if data[:2] == b"\xff\xd8":
        return _jpeg_dimensions(data)
    return None


# Start-of-frame markers (baseline, extended, progressive, lossless, ...): not DHT (C4), JPG (C8), DAC (CC).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG's marker segments to its first start-of-frame (the frame's size)."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in _SOF:
            if at + 9 > len(data):
                return None
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a valid JPEG
            return None
        at += 2 + length
    return None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not run (OWASP's rule for CSV injection): text starting with
    ``= + - @``, a tab or a carriage return gets a leading ``'``; numbers stay numbers. For the CSV files
    written for people to open (``spot --out x.csv``, ``predictions.csv``), where a class name or a folder
    named ``=HYPERLINK(…)`` would otherwise become a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def default_cache() -> Path:
    """The one cache root of everything mpt-edge fetches or renders (face models, sources, rendered and
    prepared sets): ``$XDG_CACHE_HOME/mpt-edge``, else ``~/.cache/mpt-edge``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mpt-edge"
