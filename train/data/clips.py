"""What every data set reader produces: a list of :class:`ClipRecord`, one per coded clip, pointing
at frame files on disk. Loading the onset/apex pair of a record is one function for all data sets,
so the synthetic set and the licensed ones go through the same code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.io import read_image


@dataclass(frozen=True)
class ClipRecord:
    """One annotated clip. ``frames`` maps frame number -> image file; onset/apex/offset are frame numbers."""

    dataset: str
    subject: str
    clip: str
    frames: dict[int, Path]
    onset: int
    apex: int
    offset: int
    label: int
    emotion: str
    source_row: str  # "annotations.csv row 7": where the record came from, for error messages

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip}"


def read_frame(path: Path, record: ClipRecord | None = None) -> np.ndarray:
    """A frame as BGR uint8; a missing or undecodable file is an error naming the file and its clip."""
    context = f"clip {record.key}, {record.source_row}" if record else ""
    return read_image(path, context, fix="restore or replace the file, or pass --skip-invalid")


def load_pair(record: ClipRecord) -> tuple[np.ndarray, np.ndarray]:
    """The (onset, apex) frames of a clip, BGR uint8, same size (checked)."""
    onset = read_frame(record.frames[record.onset], record)
    apex = read_frame(record.frames[record.apex], record)
    if onset.shape != apex.shape:
        raise InputError(
            f"clip {record.key}: onset frame is {onset.shape[1]}x{onset.shape[0]} but apex frame is "
            f"{apex.shape[1]}x{apex.shape[0]}; frames of one clip must share one size"
        )
    return onset, apex
