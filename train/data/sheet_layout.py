"""The shape CASME II and SAMM share: one coding sheet, one frame folder per subject, one per clip."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mpt_edge.errors import InputError
from train.data.records import RawClip
from train.data.tables import find_table, read_table


@dataclass(frozen=True)
class SheetLayout:
    dataset: str
    sheets: tuple[str, ...]  # glob patterns of the coding sheet, most specific first
    sheet_name: str  # for messages
    frame_folders: tuple[str, ...]  # names of the folder holding <subject>/<clip>/ frame folders
    columns: tuple[str, str, str, str, str, str]  # subject, clip, onset, apex, offset, emotion
    subject_folder: Callable[[str], str]  # sheet cell -> folder name ("1" -> "sub01")


def frames_folder(root: Path, sheet: Path, names: tuple[str, ...], first_subject: str) -> Path:
    """The folder holding the per-subject frame folders, looked for beside the sheet and in ROOT."""
    for base in dict.fromkeys((sheet.parent, root)):
        for name in names:
            if (base / name).is_dir():
                return base / name
        if (base / first_subject).is_dir():
            return base
    raise InputError(
        f"no frame folder ({' or '.join(names)}) beside {sheet} or in {root}; unpack the frames as distributed"
    )


def sheet_clips(root: Path, layout: SheetLayout) -> tuple[list[RawClip], Path]:
    """One :class:`RawClip` per sheet row, its frames in ``<frames>/<subject folder>/<clip>/``."""
    sheet = find_table(root, layout.sheets, layout.sheet_name)
    rows = read_table(sheet, layout.columns)
    subject_col, clip_col, onset_col, apex_col, offset_col, emotion_col = layout.columns
    folder = frames_folder(root, sheet, layout.frame_folders, layout.subject_folder(rows[0][1][subject_col]))
    raw = []
    for number, row in rows:
        subject = layout.subject_folder(row[subject_col])
        raw.append(
            RawClip(
                f"{sheet.name} row {number}",
                layout.dataset,
                subject,
                row[clip_col],
                folder / subject / row[clip_col],
                row[onset_col],
                row[apex_col],
                row[offset_col],
                row[emotion_col],
            )
        )
    return raw, sheet
