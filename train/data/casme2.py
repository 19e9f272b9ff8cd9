"""CASME II (Yan et al., PLoS ONE 2014), as its owners distribute it::

    ROOT/CASME2-coding-20140508.xlsx         coding sheet, first worksheet; header row:
        Subject | Filename | (blank) | OnsetFrame | ApexFrame | OffsetFrame | (blank) | Action Units | Estimated Emotion
    ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg ...   frames (or CASME2-RAW/, CASME2_RAW/,
                                                            Cropped/ of the cropped release)

``Subject`` holds the number (``1``), the frame folder is ``sub01``; frame files are ``img<N>.jpg``
with N the frame number the sheet uses. Emotions: happiness, surprise, disgust, repression, others,
fear, sadness. The 5-class protocol keeps the first five (fear: 2 clips, sadness: 7 are dropped);
rows whose ApexFrame is ``/`` get the middle frame and are counted in the notes.
"""

from __future__ import annotations

from pathlib import Path

from train.data.records import LabelScheme, ReadResult, build_records
from train.data.sheet_layout import SheetLayout, sheet_clips

CLASSES_5 = ("happiness", "surprise", "disgust", "repression", "others")
SCHEME_5 = LabelScheme("casme2", CLASSES_5, {**{c: c for c in CLASSES_5}, "fear": None, "sadness": None})
LAYOUT = SheetLayout(
    "casme2",
    ("CASME2-coding*.xlsx", "CASME2-coding*.csv", "CASME2*coding*.xls*"),
    "CASME II coding sheet (CASME2-coding-*.xlsx)",
    ("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "Cropped", "CASME2_Cropped"),
    ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"),
    lambda cell: f"sub{int(cell):02d}" if cell.isdigit() else cell,
)


def read_casme2(root: Path, skip_invalid: bool = False) -> ReadResult:
    return build_records(*sheet_clips(Path(root), LAYOUT), scheme=SCHEME_5, skip_invalid=skip_invalid)
