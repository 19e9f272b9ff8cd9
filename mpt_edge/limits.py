"""Resource limits: one place for every bound between an input (a file, a header, a sheet, a manifest
field) and an allocation, checked *before* anything is allocated.

Each limit has a name, a default a real user will not meet, and — where a real user could need more —
an environment variable that raises it (listed in docs/troubleshooting.md, "Limits"). Everything else
reads its number from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mpt_edge.errors import InputError


@dataclass(frozen=True)
class Limit:
    name: str
    default: float
    env: str | None  # the variable that overrides it, None where no real input needs more
    what: str  # what it bounds, for the error and the docs

    @property
    def value(self) -> float:
        """The limit in force: the environment's override, else the default."""
        if self.env is None:
            return self.default
        raw = os.environ.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"{self.env}={raw!r} is not a number; set it to a number or unset it") from None
        if not value > 0:
            raise InputError(f"{self.env}={raw!r} must be > 0; set it to a positive number or unset it")
        return value

    def hint(self) -> str:
        return f"set {self.env} to raise it" if self.env else "this limit cannot be raised"


# 8K UHD is 33 MP; a decoded 100 MP frame is 300 MB of BGR already.
IMAGE_PIXELS = Limit("image pixels", 100e6, "MPT_EDGE_MAX_IMAGE_PIXELS", "pixels of one image or frame")
# A camera or a video claims its rate in a header; the spotter's buffers and frame counts scale with it.
# 1..1000 fps covers webcams (5-60), lab cameras (100-200) and high-speed clips (up to 1000).
MIN_FPS = Limit("frame rate (lowest)", 1.0, None, "frames per second of a source")
MAX_FPS = Limit("frame rate (highest)", 1000.0, None, "frames per second of a source")
# Coding sheets: the largest published set (CAS(ME)^3) has ~3,500 rows and < 30 columns.
SHEET_ROWS = Limit("sheet rows", 100_000, "MPT_EDGE_MAX_SHEET_ROWS", "rows of a coding sheet")
SHEET_COLUMNS = Limit("sheet columns", 256, "MPT_EDGE_MAX_SHEET_COLUMNS", "columns of a coding sheet")
SHEET_BYTES = Limit("sheet size", 64e6, "MPT_EDGE_MAX_SHEET_BYTES", "bytes of one coding sheet file")
# Engine threads: more than the machine's cores only oversubscribes it; each costs a stack and a pool.
ENGINE_THREADS = Limit("engine threads", 256, None, "intra-/inter-op threads of an engine")


def check_image_size(width: int, height: int, where: str) -> None:
    """One line naming the image and the limit, before a pixel is decoded."""
    limit = IMAGE_PIXELS.value
    if width <= 0 or height <= 0:
        raise InputError(f"{where} claims a size of {width}x{height}: not an image; restore or replace the file")
    if width * height > limit:
        raise InputError(
            f"{where} is {width}x{height} = {width * height / 1e6:.0f} MP, over the {limit / 1e6:g} MP "
            f"limit of {IMAGE_PIXELS.what} ({IMAGE_PIXELS.hint()}); resize it"
        )


def check_fps(fps: float, where: str) -> float:
    """A source's frame rate inside the plausible range, or one line saying how to give the real one."""
    low, high = MIN_FPS.value, MAX_FPS.value
    if not (low <= fps <= high):  # also False for nan
        raise InputError(
            f"{where} claims {fps:g} frames/s, outside {low:g}..{high:g}: its header is wrong; "
            "pass the real rate with --fps"
        )
    return fps
