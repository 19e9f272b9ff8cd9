"""``--record``: the annotated video, written so that a file under the user's name is always playable.

An MP4 is playable only once its index is written, at the end. So frames go to a hidden temp file
beside the target; :meth:`RecordingSink.close` finishes it, reads it back (it must open and give a
frame) and only then renames it to the user's name. A recording that cannot be finished (a full disk:
OpenCV's writer reports no write error, so the read-back is what notices) is removed and said in one
line; a kill mid-way (SIGTERM is handled like Ctrl-C, :mod:`mpt_edge.signals`) finishes it normally.
Opt-in only: faces are biometric data.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
import time
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from mpt_edge.errors import InputError

FOURCC = "mp4v"
PARTIAL = ".partial.mp4"
_OLD_PARTIAL = re.compile(r"[a-z0-9_]{8}")  # mkstemp's random part, as 0.2.0 named them (no pid)
_OLD_PARTIAL_AGE_S = 600  # a live recording touches its file every frame


def remove_stale_partials(folder: Path, stem: str) -> list[Path]:
    """Delete the unfinished recordings of ``stem`` that a killed mpt-edge left in ``folder``: ours by
    their name (``.STEM.PID.XXXXXXXX.partial.mp4``), and only where that process is gone. Nothing else."""
    removed = []
    prefix = f".{stem}."
    for path in folder.glob(f".{glob.escape(stem)}.*{PARTIAL}"):
        middle = path.name[len(prefix) : -len(PARTIAL)].split(".")
        if len(middle) == 2 and middle[0].isdigit() and _OLD_PARTIAL.fullmatch(middle[1]):
            stale = not _alive(int(middle[0]))
        elif len(middle) == 1 and _OLD_PARTIAL.fullmatch(middle[0]):
            stale = time.time() - path.stat().st_mtime > _OLD_PARTIAL_AGE_S
        else:
            continue
        if stale:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class RecordingSink:
    """Frames of one size in, one finished video out (a context manager: closing finishes it)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise InputError(f"--record {self.path}: the recording is an MP4; name it ….mp4")
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise InputError(f"--record {self.path}: folder {folder} does not exist; create it first")
        if self.path.is_dir():
            raise InputError(f"--record {self.path} is a folder; name the .mp4 file to write")
        remove_stale_partials(folder, self.path.stem)
        # the pid in the name: a later run can tell a recording killed mid-way (SIGKILL, power) from one
        # another process is still writing
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.{os.getpid()}.", suffix=PARTIAL, dir=folder)
        os.close(fd)
        self.tmp = Path(tmp)
        self.fps = fps if fps and fps > 0 else 30.0
        self.size: tuple[int, int] | None = None
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        """Append a frame; frames of another size than the first are skipped (a resized source)."""
        size = (int(image.shape[1]), int(image.shape[0]))
        if self.writer is None:
            self.size = size
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter.fourcc(*FOURCC), self.fps, size)
            if not self.writer.isOpened():
                self.abandon()
                raise InputError(
                    f"cannot write {self.path}: OpenCV could not open an MP4 writer there; check the folder is writable"
                )
        if size == self.size:
            self.writer.write(image)
            self.frames += 1

    def close(self) -> Path:
        """Finish the file, check it plays, and give it the user's name; an unfinished one is removed."""
        if self.writer is None:
            self.abandon()
            raise InputError(f"--record {self.path}: no frame was recorded; nothing written")
        self.writer.release()
        self.writer = None
        why = _unplayable(self.tmp)
        if why:
            self.abandon()
            raise InputError(
                f"the recording {self.path} could not be finished ({why}); nothing was kept: free "
                "disk space or record elsewhere"
            )
        os.replace(self.tmp, self.path)
        return self.path

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        self.tmp.unlink(missing_ok=True)

    def abandon_or_keep(self) -> None:
        """The stream failed: keep what was recorded if it can be finished, else remove it, and let the
        stream's own error be the one the user sees."""
        try:
            self.close()
        except InputError:
            pass

    def __enter__(self) -> RecordingSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None or issubclass(kind, KeyboardInterrupt):
            self.close()  # finished, or stopped by Ctrl-C / SIGTERM: the recording is kept, playable
        else:
            self.abandon_or_keep()


def _unplayable(path: Path) -> str | None:
    """Why ``path`` is not a playable video, or None."""
    try:
        if path.stat().st_size == 0:
            return "the file is empty"
    except OSError as error:
        return os.strerror(error.errno or 0)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return "the video cannot be opened: its index is missing"
        ok, _ = capture.read()
        return None if ok else "no frame can be read back"
    finally:
        capture.release()
