"""SAMM (Davison et al., IEEE TAC 2018), as distributed::

    ROOT/SAMM_Micro_FACS_Codes_v2.xlsx   FACS coding sheet; about a dozen rows of description sit
        above the header row: Subject | Filename | Inducement Code | Onset Frame | Apex Frame |
        Offset Frame | Duration | Type | Action Units | Notes | Estimated Emotion
    ROOT/SAMM/006/006_1_2/006_05562.jpg ...   frames: <subject:03d>/<Filename>/<subject>_<frame>.jpg

The header row is found by its column names, wherever it is. ``Subject`` ``6`` -> folder ``006``.
Emotions: Anger, Contempt, Disgust, Fear, Happiness, Other, Sadness, Surprise. The 5-class protocol
of the SAMM literature keeps anger, contempt, happiness, surprise, other (disgust, fear and sadness
have too few clips). An Apex Frame of ``-1`` gets the middle frame (counted in the notes).
"""

from __future__ import annotations

from pathlib import Path

from train.data.records import LabelScheme, ReadResult, build_records
from train.data.sheet_layout import SheetLayout, sheet_clips

CLASSES_5 = ("anger", "contempt", "happiness", "surprise", "other")
SCHEME_5 = LabelScheme(
    "samm", CLASSES_5, {**{c: c for c in CLASSES_5}, "others": "other", "disgust": None, "fear": None, "sadness": None}
)
LAYOUT = SheetLayout(
    "samm",
    ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM_Micro_FACS_Codes*.csv", "SAMM*FACS*.xls*"),
    "SAMM FACS coding sheet (SAMM_Micro_FACS_Codes_v2.xlsx)",
    ("SAMM",),
    ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion"),
    lambda cell: f"{int(cell):03d}" if cell.isdigit() else cell,
)


def read_samm(root: Path, skip_invalid: bool = False) -> ReadResult:
    return build_records(*sheet_clips(Path(root), LAYOUT), scheme=SCHEME_5, skip_invalid=skip_invalid)
