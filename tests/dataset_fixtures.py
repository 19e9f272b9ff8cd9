"""Tiny copies of the licensed data sets in their *published* layouts (folder names, frame file names,
coding spreadsheets with their real column names and header rows), filled with drawn faces whose
class-specific motion is real, so the readers, `prepare`, `train` and `eval` run on them end to end."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from openpyxl import Workbook

from train.data.synthetic import draw_face, make_clip

SIZE = 64
# Which synthetic 3-class motion (0 negative, 1 positive, 2 surprise) each data set emotion shows.
MOTION = {
    "happiness": 1,
    "happy": 1,
    "surprise": 2,
    "disgust": 0,
    "repression": 0,
    "others": 0,
    "fear": 0,
    "anger": 0,
    "contempt": 0,
    "other": 0,
    "sadness": 0,
    "sad": 0,
    "negative": 0,
    "positive": 1,
}


def write_frames(
    folder: Path, first: int, emotion: str, seed: int, name: Callable[[int], str], frames: int = 5
) -> tuple[int, int, int]:
    """Render one clip into ``folder``; returns its (onset, apex, offset) frame numbers."""
    rng = np.random.default_rng(seed)
    face = draw_face(rng, SIZE)
    clip = make_clip(face, MOTION[emotion.lower()], 3, rng, "s", frames=frames, amplitude_range=(1.0, 1.5))
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(clip.frames):
        cv2.imwrite(str(folder / name(first + t)), frame)
    return first, first + clip.apex, first + frames - 1


def write_sheet(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], preamble: Sequence[Sequence[object]] = ()
) -> Path:
    book = Workbook()
    sheet = book.active
    for row in preamble:
        sheet.append(list(row))
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


CASME2_EMOTIONS = ("happiness", "disgust", "surprise", "repression", "others")


def make_casme2(root: Path, subjects: int = 3, seed: int = 0) -> Path:
    """CASME2-coding-20140508.xlsx + CASME2_RAW_selected/sub01/EP02_01f/img46.jpg ..."""
    rows = []
    for s in range(1, subjects + 1):
        for k, emotion in enumerate(CASME2_EMOTIONS + (("fear",) if s == 1 else ())):
            name = f"EP0{k + 1}_0{s}f"
            first = 40 + 7 * k
            onset, apex, offset = write_frames(
                root / "CASME2_RAW_selected" / f"sub{s:02d}" / name,
                first,
                emotion,
                seed * 1000 + s * 10 + k,
                lambda n: f"img{n}.jpg",
            )
            rows.append([s, name, None, onset, apex, offset, None, "12", emotion])
    write_sheet(
        root / "CASME2-coding-20140508.xlsx",
        [
            "Subject",
            "Filename",
            None,
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            None,
            "Action Units",
            "Estimated Emotion",
        ],
        rows,
    )
    return root


SAMM_EMOTIONS = ("Happiness", "Anger", "Surprise", "Contempt", "Other")


def make_samm(root: Path, subjects: Sequence[int] = (6, 7, 9), seed: int = 0) -> Path:
    """SAMM_Micro_FACS_Codes_v2.xlsx (description rows above the header) + SAMM/006/006_1_2/006_05562.jpg"""
    rows = []
    for s in subjects:
        for k, emotion in enumerate(SAMM_EMOTIONS):
            name = f"{s:03d}_{k + 1}_{k + 2}"
            first = 5000 + 20 * k
            onset, apex, offset = write_frames(
                root / "SAMM" / f"{s:03d}" / name,
                first,
                emotion,
                seed * 1000 + s * 10 + k,
                lambda n, s=s: f"{s:03d}_{n:05d}.jpg",
            )
            rows.append([s, name, k, onset, apex, offset, offset - onset, "Micro - 1/2", "R12", "", emotion])
    preamble = (
        [["SAMM Micro-Movement FACS Codes"], ["Version 2"]] + [[f"description line {i}"] for i in range(10)] + [[]]
    )
    write_sheet(
        root / "SAMM_Micro_FACS_Codes_v2.xlsx",
        [
            "Subject",
            "Filename",
            "Inducement Code",
            "Onset Frame",
            "Apex Frame",
            "Offset Frame",
            "Duration",
            "Type",
            "Action Units",
            "Notes",
            "Estimated Emotion",
        ],
        rows,
        preamble,
    )
    return root


def make_smic(root: Path, subjects: Sequence[int] = (1, 2, 3), seed: int = 0) -> Path:
    """HS/s1/micro/negative/s1_ne_01/image000106.bmp ..."""
    for s in subjects:
        for k, emotion in enumerate(("negative", "positive", "surprise")):
            name = f"s{s}_{emotion[:2]}_0{k + 1}"
            write_frames(
                root / "HS" / f"s{s}" / "micro" / emotion / name,
                100 + 9 * k,
                emotion,
                seed * 1000 + s * 10 + k,
                lambda n: f"image{n:06d}.bmp",
            )
    (root / "HS" / "s4" / "non_micro").mkdir(parents=True)  # a subject without micro-expressions is not a clip
    return root


CASME3_EMOTIONS = ("happy", "disgust", "surprise", "anger", "others")


def make_casme3(root: Path, subjects: Sequence[str] = ("spNO.1", "spNO.2", "spNO.3"), seed: int = 0) -> Path:
    """annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx + data/part_A/spNO.1/a/color/0.jpg ...;
    two micro-expressions share one recording ('a') per subject, as in the real set."""
    rows = []
    for i, subject in enumerate(subjects):
        for k, emotion in enumerate(CASME3_EMOTIONS):
            recording = "a" if k < 2 else chr(ord("b") + k)
            first = 10 + 30 * k
            onset, apex, offset = write_frames(
                root / "data" / "part_A" / subject / recording / "color",
                first,
                emotion,
                seed * 1000 + i * 10 + k,
                lambda n: f"{n}.jpg",
            )
            rows.append([subject, recording, onset, apex, offset, "AU12", "1", emotion])
    write_sheet(
        root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
        ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
        rows,
    )
    return root


def make_megc2019(root: Path) -> Path:
    make_casme2(root / "CASME2", subjects=2, seed=1)
    make_samm(root / "SAMM", subjects=(6, 7), seed=2)
    make_smic(root / "SMIC", subjects=(1, 2), seed=3)
    return root
