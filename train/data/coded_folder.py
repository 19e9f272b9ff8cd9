"""Reader for a CASME II-style coded folder: ``ROOT/<Subject>/<Filename>/img<N>.<ext>`` frame folders
plus one coding table with the columns ``Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
Estimated Emotion`` (CASME II's own column names). The synthetic set is written in this layout, so
training on it exercises the same read -> validate -> load path as a licensed data set.

Validation collects *every* problem (missing columns, non-integer frame numbers, apex outside
[onset, offset], unknown emotions, duplicate clips, missing onset/apex frame files) and reports them
together, naming the table and its rows; ``skip_invalid=True`` drops the offending rows instead and
says how many.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mpt_edge.errors import InputError
from train.data.clips import ClipRecord

REQUIRED_COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")
FRAME_PATTERN = re.compile(r"^img(\d+)\.(png|jpg|jpeg|bmp)$", re.IGNORECASE)
MAX_LISTED = 8
_EXTRA = "\0extra"  # where csv puts cells beyond the header; ignored


@dataclass(frozen=True)
class ReadResult:
    records: list[ClipRecord]
    skipped: list[str]  # one line per dropped row, empty unless skip_invalid


def index_frames(folder: Path) -> dict[int, Path]:
    """Frame number -> file for the ``img<N>.<ext>`` files of one clip folder."""
    frames = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = FRAME_PATTERN.match(path.name)
            if match:
                frames[int(match.group(1))] = path
    return frames


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV coding table; clear errors for a missing file or missing columns."""
    if not path.is_file():
        raise InputError(f"coding table {path} does not exist; point --root at the data set folder that contains it")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, restkey=_EXTRA)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k != _EXTRA} for row in reader]
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"cannot parse coding table {path}: {error}; save it as UTF-8 CSV") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"coding table {path} lacks column(s) {missing}; it has {columns}. Expected {list(REQUIRED_COLUMNS)}")
    return rows


def read_coded_folder(
    root: Path, classes: Sequence[str], dataset: str, table: str = "annotations.csv", skip_invalid: bool = False
) -> ReadResult:
    """All valid clips under ``root``; raises one :class:`InputError` listing every bad row unless ``skip_invalid``."""
    root = Path(root)
    table_path = root / table
    rows = read_table(table_path)
    if not rows:
        raise InputError(f"coding table {table_path} has no clips; it holds only a header")
    lookup = {name.lower(): index for index, name in enumerate(classes)}
    records, problems, seen = [], [], {}
    for number, row in enumerate(rows, start=2):  # row 1 is the header, as a spreadsheet shows it
        where = f"{table_path.name} row {number}"
        subject, clip = row["Subject"], row["Filename"]
        try:
            onset, apex, offset = (int(row[c]) for c in ("OnsetFrame", "ApexFrame", "OffsetFrame"))
        except ValueError:
            problems.append(f"{where}: frame numbers {row['OnsetFrame']!r}/{row['ApexFrame']!r}/{row['OffsetFrame']!r} are not integers")
            continue
        emotion = row["Estimated Emotion"]
        row_problems = []
        if not subject or not clip:
            row_problems.append("empty Subject or Filename")
        if not onset <= apex <= offset:
            row_problems.append(f"apex {apex} outside [onset {onset}, offset {offset}]")
        if emotion.lower() not in lookup:
            row_problems.append(f"unknown emotion {emotion!r} (expected one of {', '.join(classes)})")
        key = (subject, clip)
        if key in seen:
            row_problems.append(f"duplicate of row {seen[key]} ({subject}/{clip})")
        seen.setdefault(key, number)
        frames = index_frames(root / subject / clip)
        missing = [n for n in (onset, apex) if n not in frames]
        if not row_problems and missing:
            row_problems.append(f"missing frame file(s) img{'/img'.join(map(str, missing))} in {root / subject / clip}")
        if row_problems:
            problems.append(f"{where} ({subject}/{clip}): " + "; ".join(row_problems))
            continue
        records.append(
            ClipRecord(dataset, subject, clip, frames, onset, apex, offset, lookup[emotion.lower()], emotion.lower(), where)
        )
    if problems and not skip_invalid:
        listed = "; ".join(problems[:MAX_LISTED]) + (f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else "")
        raise InputError(f"{len(problems)} invalid clip(s) in {table_path}: {listed}. Fix them or pass --skip-invalid")
    if not records:
        raise InputError(f"no valid clips in {table_path} ({len(problems)} invalid)")
    return ReadResult(records, problems)
