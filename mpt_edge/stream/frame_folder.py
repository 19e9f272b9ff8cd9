"""A folder of numbered frames as a source (the long-video sets are distributed so: CAS(ME)^2's
``rawpic/s15/15_0101disgustingteeth/img1.jpg ...``, SAMM Long Videos' ``006_1/006_1_0001.jpg ...``).

Frames are read in the order of the number at the end of their names, with the interface of an OpenCV
capture (``isOpened``, ``read``, ``get(CAP_PROP_FPS)``, ``release``), so the capture thread, ``run`` and
``spot`` treat a folder like a video file. A folder has no frame rate: the caller gives it (the data
set's, or ``--fps``). A missing or unreadable frame is one clear error naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.io import read_image

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_NUMBER = re.compile(r"(\d+)$")


def numbered_frames(folder: Path) -> list[tuple[int, Path]]:
    """(frame number, file) of every numbered image in ``folder``, in order; gaps are an error."""
    frames = []
    for path in Path(folder).iterdir():
        match = _NUMBER.search(path.stem)
        if path.suffix.lower() in SUFFIXES and match:
            frames.append((int(match.group(1)), path))
    frames.sort()
    if not frames:
        raise InputError(
            f"{folder} holds no numbered frames (img1.jpg, 006_1_0001.jpg, ...); point at a "
            "folder of frames or a video file"
        )
    numbers = [n for n, _ in frames]
    if len(set(numbers)) != len(numbers):
        raise InputError(f"{folder} has two frames with one number; keep one file per frame")
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        raise InputError(
            f"{folder} is missing frame {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f" between {frames[0][1].name} and {frames[-1][1].name}; restore it or copy the video again"
        )
    return frames


def read_frame(path: Path) -> np.ndarray:
    return read_image(path, "a frame of the video", fix="restore the file or copy the video again")


class FrameFolderCapture:
    """``cv2.VideoCapture``'s reading interface over a folder of numbered frames."""

    def __init__(self, folder: Path, fps: float = 30.0) -> None:
        self.folder = Path(folder)
        self.frames = numbered_frames(self.folder)
        self.fps = float(fps)
        self.position = 0
        self.first_number = self.frames[0][0]

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.position >= len(self.frames):
            return False, None
        _, path = self.frames[self.position]
        self.position += 1
        return True, read_frame(path)

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(len(self.frames))
        return 0.0

    def release(self) -> None:
        self.position = len(self.frames)
