"""CAS(ME)^3 part A (Li et al., IEEE TPAMI 2022), as distributed::

    ROOT/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx   header row:
        Subject | Filename | Onset | Apex | Offset | AU | Objective class | emotion
    ROOT/data/part_A/spNO.1/a/color/0.jpg ...    frames: <Subject>/<Filename>/color/<frame>.jpg
                                                 (ROOT/part_A/... is accepted too)

One ``Filename`` is one long recording that can hold several micro-expressions, so the clip id is
``<Filename>_<Onset>``. Emotions: happy, disgust, fear, anger, sad, surprise, others. The 3-class
protocol maps disgust/fear/anger/sad -> negative, happy -> positive, surprise -> surprise and drops
others.
"""

from __future__ import annotations

from pathlib import Path

from mpt_edge.errors import InputError
from train.data.records import LabelScheme, RawClip, ReadResult, build_records
from train.data.tables import find_table, read_table

CLASSES_3 = ("negative", "positive", "surprise")
SCHEME_3 = LabelScheme(
    "casme3",
    CLASSES_3,
    {
        "disgust": "negative",
        "fear": "negative",
        "anger": "negative",
        "sad": "negative",
        "sadness": "negative",
        "happy": "positive",
        "happiness": "positive",
        "surprise": "surprise",
        "others": None,
        "other": None,
    },
)
COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "emotion")
SHEETS = ("cas(me)3_part_A_ME_label*.xlsx", "cas(me)3_part_A_ME_label*.csv", "*part_A*ME*label*.xls*")


def part_a_folder(root: Path) -> Path:
    for candidate in (root / "data" / "part_A", root / "part_A" / "data" / "part_A", root / "part_A", root):
        if candidate.is_dir() and any(candidate.glob("*/*/color")):
            return candidate
    raise InputError(
        "no CAS(ME)^3 part A frames (data/part_A/<Subject>/<Filename>/color/) under "
        f"{root}; unpack the frames as distributed"
    )


def read_casme3(root: Path, skip_invalid: bool = False) -> ReadResult:
    root = Path(root)
    sheet = find_table(root, SHEETS, "CAS(ME)^3 part A label sheet (cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx)")
    rows = read_table(sheet, COLUMNS)
    folder = part_a_folder(root)
    raw = [
        RawClip(
            f"{sheet.name} row {number}",
            "casme3",
            row["Subject"],
            f"{row['Filename']}_{row['Onset']}",
            folder / row["Subject"] / row["Filename"] / "color",
            row["Onset"],
            row["Apex"],
            row["Offset"],
            row["emotion"],
        )
        for number, row in rows
    ]
    return build_records(raw, sheet, SCHEME_3, skip_invalid)
