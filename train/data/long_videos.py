"""Readers for the long-video (spotting) sets, as distributed, into one shape: videos with the
intervals their experts coded (onset, apex, offset, micro- or macro-expression).

- **CAS(ME)^2** (Qu et al., 2017), 30 frames/s::

      ROOT/rawpic/s15/15_0101disgustingteeth/img1.jpg ...
      ROOT/CAS(ME)^2code_final.xlsx   sheet 1, no header: subject number | <video name>_<k> | onset | apex | offset |
                                      AUs | emotion | macro-expression / micro-expression [| self-report]
                                      sheet 2: name | folder code (15) | subject number (1)
                                      sheet 3: video code (0101) | video name (disgust1)

  The video ``disgust1_2`` of subject 1 is the folder ``rawpic/s15/15_0101*``. An apex of 0 (not coded)
  becomes the middle of the interval, an offset of 0 the apex (counted in the notes).
- **SAMM Long Videos** (Yap et al., 2020), 200 frames/s::

      ROOT/SAMM_longvideos/006_1/006_1_0001.jpg ...
      ROOT/SAMM_LongVideos_V3_Release.xlsx   description rows, then the header: Subject | Filename (006_1_1) |
                                             Inducement Code | Onset | Apex | Offset | Duration | Type
                                             (Macro / Micro - 1/2) | Action Units | Notes
- **CAS(ME)^3 part A** long recordings (Li et al., 2022), 30 frames/s::

      ROOT/frame/spNO.1/a/0.jpg ...          (a..m: one recording per task)
      ROOT/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx and ..._MaE_label...   Subject | Filename | Onset | Apex | Offset |
      ...

Frame numbers in the intervals are stream indices (0 = the first frame of the folder), so they compare
directly with what ``spot`` reports; a malformed sheet, a missing frame or an interval past the video's
end is one line naming the file and row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mpt_edge.errors import InputError
from mpt_edge.spotting.intervals import Interval
from mpt_edge.stream.frame_folder import numbered_frames
from train.data.tables import find_table, read_sheets, read_table


@dataclass(frozen=True)
class LongVideo:
    dataset: str
    subject: str
    name: str
    folder: Path
    fps: float
    frames: int
    first_number: int  # the number of the first frame's file (stream index 0)
    truth: tuple[Interval, ...] = field(default=())


@dataclass(frozen=True)
class LongVideoSet:
    name: str
    videos: tuple[LongVideo, ...]
    notes: tuple[str, ...] = ()


def _int(text: str, where: str, column: str) -> int:
    try:
        return int(float(text))
    except (ValueError, OverflowError):  # "abc"; "inf", "1e400"
        raise InputError(f"{where}: {column} is {text!r}, not a frame number; fix the row") from None


def _interval(
    where: str, onset: int, apex: int, offset: int, kind: str, video: LongVideo, notes: list[str]
) -> Interval:
    if apex <= 0:
        apex = (onset + offset) // 2
        notes.append(f"{where}: apex not coded, the middle frame is used")
    if offset <= 0:
        offset = apex
        notes.append(f"{where}: offset not coded, the apex is used")
    if not onset <= apex <= offset:
        raise InputError(f"{where}: onset {onset}, apex {apex}, offset {offset} are not in order; fix the row")
    last = video.first_number + video.frames - 1
    if onset < video.first_number or offset > last:
        raise InputError(
            f"{where}: interval {onset}-{offset} lies past the video's frames {video.first_number}-{last} "
            f"({video.folder}); fix the row or restore the frames"
        )
    base = video.first_number
    return Interval(onset - base, apex - base, offset - base, kind)


def _video(dataset: str, subject: str, name: str, folder: Path, fps: float) -> LongVideo:
    frames = numbered_frames(folder)  # a missing frame is one line naming the folder
    return LongVideo(dataset, subject, name, folder, fps, len(frames), frames[0][0])


def read_casme_sq(root: Path) -> LongVideoSet:
    """CAS(ME)^2: ``rawpic`` + ``CAS(ME)^2code_final.xlsx``."""
    root = Path(root)
    sheet = find_table(
        root,
        ("CAS(ME)^2code_final*.xlsx", "CAS(ME)2code_final*.xlsx", "code_final*.xlsx"),
        "CAS(ME)^2 coding sheet (CAS(ME)^2code_final.xlsx)",
    )
    sheets = read_sheets(sheet)
    if len(sheets) < 3:
        raise InputError(
            f"{sheet} has {len(sheets)} worksheet(s); CAS(ME)^2's has three (codes, subject "
            "naming, video naming): download it again"
        )
    subject_code = {}
    for row in sheets[1]:
        if len(row) >= 3 and row[1] and row[2]:
            subject_code[row[2]] = row[1]
    video_code = {row[1]: row[0] for row in sheets[2] if len(row) >= 2 and row[0] and row[1]}
    frames_root = root / "rawpic"
    if not frames_root.is_dir():
        raise InputError(f"{root} has no rawpic/ folder of frames; point --root at the CAS(ME)^2 folder as distributed")
    videos: dict[tuple[str, str], LongVideo] = {}
    intervals: dict[tuple[str, str], list[Interval]] = {}
    notes: list[str] = []
    for line, row in enumerate(sheets[0], start=1):
        if not any(row):
            continue
        where = f"{sheet.name} row {line}"
        if len(row) < 8:
            raise InputError(
                f"{where}: {len(row)} columns, CAS(ME)^2's code sheet has 8 (subject, video, "
                "onset, apex, offset, AUs, emotion, type)"
            )
        subject, video_k = row[0], row[1]
        if subject not in subject_code:
            raise InputError(
                f"{where}: subject {subject!r} is not in the naming sheet; download the coding sheet again"
            )
        name = video_k.rsplit("_", 1)[0]
        if name not in video_code:
            raise InputError(
                f"{where}: video {name!r} is not in the video naming sheet; download the coding sheet again"
            )
        code = subject_code[subject]
        key = (code, name)
        if key not in videos:
            pattern = f"{code}_{video_code[name]}*"
            found = sorted((frames_root / f"s{code}").glob(pattern))
            if not found:
                raise InputError(
                    f"{where}: no frame folder rawpic/s{code}/{pattern}; restore the frames or fix the row"
                )
            videos[key] = _video("casme_sq", f"s{code}", found[0].name, found[0], 30.0)
        kind_text = row[7].lower()
        if "micro" in kind_text:
            kind = "ME"
        elif "macro" in kind_text:
            kind = "MaE"
        else:
            raise InputError(f"{where}: type {row[7]!r} is neither macro-expression nor micro-expression; fix the row")
        interval = _interval(
            where,
            _int(row[2], where, "onset"),
            _int(row[3] or "0", where, "apex"),
            _int(row[4] or "0", where, "offset"),
            kind,
            videos[key],
            notes,
        )
        intervals.setdefault(key, []).append(interval)
    for folder in sorted(frames_root.glob("s*/*")):  # videos nobody coded an expression in still count (false alarms)
        code = folder.parent.name[1:]
        coded = next((k for k, v in videos.items() if v.folder == folder), None)
        if coded is None and folder.is_dir():
            videos[(code, folder.name)] = _video("casme_sq", folder.parent.name, folder.name, folder, 30.0)
    result = tuple(_with_truth(v, intervals.get(k, [])) for k, v in sorted(videos.items()))
    return LongVideoSet("casme_sq", result, tuple(notes))


def _with_truth(video: LongVideo, truth: Sequence[Interval]) -> LongVideo:
    from dataclasses import replace

    return replace(video, truth=tuple(sorted(truth, key=lambda i: i.onset)))


def _kind(text: str, where: str) -> str:
    lowered = text.lower()
    if "micro" in lowered:
        return "ME"
    if "macro" in lowered:
        return "MaE"
    raise InputError(f"{where}: type {text!r} is neither Macro nor Micro; fix the row")


def read_samm_long(root: Path) -> LongVideoSet:
    """SAMM Long Videos: ``SAMM_longvideos/<video>/`` + ``SAMM_LongVideos_V*_Release.xlsx`` (200 frames/s)."""
    root = Path(root)
    sheet = find_table(
        root,
        ("SAMM_LongVideos*Release*.xlsx", "SAMM_LongVideos*.xlsx", "SAMM_LongVideos*.csv"),
        "SAMM Long Videos sheet (SAMM_LongVideos_V3_Release.xlsx)",
    )
    rows = read_table(sheet, ("Filename", "Onset", "Apex", "Offset", "Type"))
    frames_root = next(
        (root / n for n in ("SAMM_longvideos", "SAMM_longvideos_crop", "SAMM_LongVideos") if (root / n).is_dir()), None
    )
    if frames_root is None:
        raise InputError(
            f"{root} has no SAMM_longvideos/ folder of frames; point --root at SAMM Long Videos as distributed"
        )
    videos: dict[str, LongVideo] = {}
    intervals: dict[str, list[Interval]] = {}
    notes: list[str] = []
    for line, row in rows:
        where = f"{sheet.name} row {line}"
        parts = row["Filename"].split("_")
        if len(parts) < 3:
            raise InputError(
                f"{where}: Filename {row['Filename']!r} is not <subject>_<video>_<k> (006_1_2); fix the row"
            )
        name = "_".join(parts[:2])
        if name not in videos:
            folder = frames_root / name
            if not folder.is_dir():
                raise InputError(f"{where}: no frame folder {folder}; restore the frames or fix the row")
            videos[name] = _video("samm_long", parts[0], name, folder, 200.0)
        interval = _interval(
            where,
            _int(row["Onset"], where, "Onset"),
            _int(row["Apex"] or "0", where, "Apex"),
            _int(row["Offset"] or "0", where, "Offset"),
            _kind(row["Type"], where),
            videos[name],
            notes,
        )
        intervals.setdefault(name, []).append(interval)
    return LongVideoSet(
        "samm_long", tuple(_with_truth(v, intervals.get(k, [])) for k, v in sorted(videos.items())), tuple(notes)
    )


def read_casme3_long(root: Path) -> LongVideoSet:
    """CAS(ME)^3 part A's long recordings: ``frame/spNO.<n>/<task>/`` + its ME and MaE label sheets (30 frames/s)."""
    root = Path(root)
    frames_root = root / "frame" if (root / "frame").is_dir() else root
    sheets = sorted(p for p in root.glob("*.xls*") if "label" in p.name.lower())
    if not sheets:
        raise InputError(
            f"{root} has no CAS(ME)^3 label sheets "
            "(cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx, ..._MaE_...); point --root at part "
            "A as distributed"
        )
    videos: dict[tuple[str, str], LongVideo] = {}
    intervals: dict[tuple[str, str], list[Interval]] = {}
    notes: list[str] = []
    for sheet in sheets:
        kind = "MaE" if "mae" in sheet.name.lower() or "macro" in sheet.name.lower() else "ME"
        for line, row in read_table(sheet, ("Subject", "Filename", "Onset", "Apex", "Offset")):
            where = f"{sheet.name} row {line}"
            subject = row["Subject"] if row["Subject"].startswith("spNO.") else f"spNO.{row['Subject']}"
            key = (subject, row["Filename"])
            if key not in videos:
                folder = frames_root / subject / row["Filename"]
                if not folder.is_dir():
                    raise InputError(f"{where}: no frame folder {folder}; restore the frames or fix the row")
                videos[key] = _video("casme3_long", subject, row["Filename"], folder, 30.0)
            intervals.setdefault(key, []).append(
                _interval(
                    where,
                    _int(row["Onset"], where, "Onset"),
                    _int(row["Apex"] or "0", where, "Apex"),
                    _int(row["Offset"] or "0", where, "Offset"),
                    kind,
                    videos[key],
                    notes,
                )
            )
    return LongVideoSet(
        "casme3_long", tuple(_with_truth(v, intervals.get(k, [])) for k, v in sorted(videos.items())), tuple(notes)
    )


LONG_READERS: dict[str, Callable[[Path], LongVideoSet]] = {
    "casme_sq": read_casme_sq,
    "samm_long": read_samm_long,
    "casme3_long": read_casme3_long,
}
LONG_DATASET_HELP = (
    "Long-video set: casme_sq (CAS(ME)^2), samm_long (SAMM Long Videos), casme3_long (CAS(ME)^3 part A recordings)."
)


def read_long_videos(name: str, root: Path | None) -> LongVideoSet:
    if name not in LONG_READERS:
        raise InputError(f"unknown long-video set {name!r}; choose {', '.join(LONG_READERS)}")
    if root is None or not Path(root).is_dir():
        raise InputError(f"--root {root} is not a folder; point it at the {name} set as distributed")
    return LONG_READERS[name](Path(root))
