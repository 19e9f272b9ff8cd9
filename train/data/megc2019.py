"""MEGC2019 composite (See et al., FG 2019 challenge): SMIC-HS + CASME II + SAMM, 3 classes, 68
subjects, 442 clips. ROOT holds the three data sets as distributed (any folder names: each reader
finds its own coding sheet / HS folder under ROOT).

Label mapping (the challenge's):

* CASME II: disgust, repression -> negative; happiness -> positive; surprise -> surprise;
  others, fear, sadness dropped; also dropped, as in the challenge list: sub04/EP12_01f,
  sub05/EP12_03f, sub24/EP02_07 (145 clips remain);
* SAMM: anger, contempt, disgust, fear, sadness -> negative; happiness -> positive;
  surprise -> surprise; other dropped (133 clips);
* SMIC-HS: its own negative / positive / surprise (164 clips).

Subjects are prefixed with their data set (``casme2_sub01``, ``samm_006``, ``smic_s1``) so LOSO
never merges two people, and every clip keeps its source for per-data-set metrics.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from train.data import casme2, samm, smic
from train.data.records import LabelScheme, ReadResult, build_records
from train.data.sheet_layout import sheet_clips

CLASSES_3 = ("negative", "positive", "surprise")
CASME2_3 = LabelScheme(
    "casme2",
    CLASSES_3,
    {
        "disgust": "negative",
        "repression": "negative",
        "happiness": "positive",
        "surprise": "surprise",
        "others": None,
        "fear": None,
        "sadness": None,
    },
)
SAMM_3 = LabelScheme(
    "samm",
    CLASSES_3,
    {
        "anger": "negative",
        "contempt": "negative",
        "disgust": "negative",
        "fear": "negative",
        "sadness": "negative",
        "happiness": "positive",
        "surprise": "surprise",
        "other": None,
        "others": None,
    },
)
CASME2_EXCLUDED = {("sub04", "EP12_01f"), ("sub05", "EP12_03f"), ("sub24", "EP02_07")}


def read_megc2019(root: Path, skip_invalid: bool = False) -> ReadResult:
    root = Path(root)
    records, skipped, notes = [], [], []
    casme_raw, casme_sheet = sheet_clips(root, casme2.LAYOUT)
    kept = [r for r in casme_raw if (r.subject, r.clip) not in CASME2_EXCLUDED]
    if len(kept) != len(casme_raw):
        notes.append(f"casme2: dropped {len(casme_raw) - len(kept)} clip(s) not in the MEGC2019 list")
    samm_raw, samm_sheet = sheet_clips(root, samm.LAYOUT)
    smic_raw, smic_hs = smic.raw_clips(root)
    for raw, scheme, source in (
        (kept, CASME2_3, casme_sheet),
        (samm_raw, SAMM_3, samm_sheet),
        (smic_raw, smic.SCHEME_3, smic_hs),
    ):
        result = build_records(raw, source, scheme, skip_invalid)
        records += [replace(r, subject=f"{r.dataset}_{r.subject}") for r in result.records]
        skipped += result.skipped
        notes += result.notes
    return ReadResult(records, skipped, notes)
