"""Annotation rows -> validated :class:`ClipRecord` list: the checks every reader shares.

A reader turns its spreadsheet/folders into :class:`RawClip` rows (cells still as text) and a
:class:`LabelScheme`; :func:`build_records` then checks every row — frame numbers are integers, apex
inside [onset, offset], the emotion is known, the clip is not a duplicate, the onset and apex frame
files exist — and reports *all* problems in one message naming the table and its rows. With
``skip_invalid`` the bad rows are dropped and listed instead. Emotions the scheme excludes on purpose
(e.g. CASME II's fear/sadness in the 5-class protocol) are not errors; they are counted in ``notes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mpt_edge.errors import InputError
from train.data.clips import ClipRecord

MAX_LISTED = 8
FRAME_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
MISSING_APEX = {"", "/", "-", "-1", "nan", "none"}


@dataclass(frozen=True)
class LabelScheme:
    """Class names and how a data set's own emotion labels map onto them (None: excluded)."""

    name: str
    classes: tuple[str, ...]
    mapping: Mapping[str, str | None]

    def resolve(self, emotion: str) -> tuple[bool, int | None]:
        """(known, class index or None if the scheme excludes this emotion)."""
        key = emotion.strip().lower()
        if key not in self.mapping:
            return False, None
        target = self.mapping[key]
        return True, (None if target is None else self.classes.index(target))

    def known(self) -> list[str]:
        return sorted(self.mapping)


def identity_scheme(name: str, classes: Sequence[str]) -> LabelScheme:
    return LabelScheme(name, tuple(classes), {c.lower(): c for c in classes})


@dataclass
class RawClip:
    where: str  # "CASME2-coding-20140508.xlsx row 7"
    dataset: str
    subject: str
    clip: str
    folder: Path
    onset: str
    apex: str
    offset: str
    emotion: str
    apex_default_middle: bool = False  # data sets without apex annotation (SMIC)


@dataclass(frozen=True)
class ReadResult:
    records: list[ClipRecord]
    skipped: list[str] = field(default_factory=list)  # invalid rows dropped by skip_invalid
    notes: list[str] = field(default_factory=list)  # deliberate exclusions and fill-ins, for the log


def index_frames(folder: Path) -> dict[int, Path]:
    """Frame number -> file for the images of one clip folder; the number is the last run of digits
    in the file name (CASME II ``img46.jpg``, SAMM ``006_05562.jpg``, SMIC ``image000106.bmp``,
    CAS(ME)^3 ``160.jpg``)."""
    frames: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix.lower() in FRAME_SUFFIXES:
                match = _LAST_NUMBER.search(path.stem)
                if match:
                    frames[int(match.group(1))] = path
    return frames


def _as_int(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def build_records(raw: Sequence[RawClip], source: Path, scheme: LabelScheme, skip_invalid: bool = False) -> ReadResult:
    problems: list[str] = []
    records: list[ClipRecord] = []
    excluded: dict[str, int] = {}
    filled_apex = 0
    seen: dict[tuple[str, str, str, int], str] = {}
    for row in raw:
        issues = []
        onset, offset = _as_int(row.onset), _as_int(row.offset)
        apex_missing = row.apex.strip().lower() in MISSING_APEX
        apex = _as_int(row.apex) if not apex_missing else None
        if onset is None or offset is None or (apex is None and not apex_missing):
            problems.append(
                f"{row.where} ({row.subject}/{row.clip}): frame numbers "
                f"{row.onset!r}/{row.apex!r}/{row.offset!r} are not integers"
            )
            continue
        if apex is None:
            apex = (onset + offset) // 2
            if not row.apex_default_middle:
                filled_apex += 1
        if not row.subject or not row.clip:
            issues.append("empty subject or clip name")
        if not onset <= apex <= offset:
            issues.append(f"apex {apex} outside [onset {onset}, offset {offset}]")
        known, label = scheme.resolve(row.emotion)
        if not known:
            issues.append(f"unknown emotion {row.emotion!r} (known: {', '.join(scheme.known())})")
        key = (row.dataset, row.subject, row.clip, onset)
        if key in seen:
            issues.append(f"duplicate of {seen[key]}")
        seen.setdefault(key, row.where)
        frames = index_frames(row.folder) if not issues else {}
        if not issues:
            if not frames:
                issues.append(f"no frame images in {row.folder}")
            else:
                missing = [n for n in sorted({onset, apex}) if n not in frames]
                if missing:
                    issues.append(f"missing frame(s) {missing} in {row.folder} (it has {min(frames)}..{max(frames)})")
        if issues:
            problems.append(f"{row.where} ({row.subject}/{row.clip}): " + "; ".join(issues))
            continue
        if label is None:
            excluded[row.emotion.lower()] = excluded.get(row.emotion.lower(), 0) + 1
            continue
        records.append(
            ClipRecord(
                row.dataset, row.subject, row.clip, frames, onset, apex, offset, label, scheme.classes[label], row.where
            )
        )
    if problems and not skip_invalid:
        listed = "; ".join(problems[:MAX_LISTED]) + (
            f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        )
        raise InputError(f"{len(problems)} invalid clip(s) in {source}: {listed}. Fix them or pass --skip-invalid")
    notes = []
    if excluded:
        notes.append(
            f"{scheme.name}: excluded by the {len(scheme.classes)}-class protocol: "
            + ", ".join(f"{k} {v}" for k, v in sorted(excluded.items()))
        )
    if filled_apex:
        notes.append(
            f"{scheme.name}: apex not annotated for {filled_apex} clip(s); used the middle frame (onset + offset) // 2"
        )
    if not records:
        raise InputError(
            f"no usable clips in {source} ({len(problems)} invalid, {sum(excluded.values())} "
            "excluded by the class protocol)"
        )
    return ReadResult(records, problems if skip_invalid else [], notes)
