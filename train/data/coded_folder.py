"""Reader for a CASME II-style coded folder: ``ROOT/<Subject>/<Filename>/img<N>.<ext>`` frame folders
plus one coding table ``annotations.csv`` with the columns ``Subject, Filename, OnsetFrame,
ApexFrame, OffsetFrame, Estimated Emotion`` (CASME II's own column names). The synthetic set and the
aligned caches of ``mpt-edge prepare`` are written in this layout, so training on either exercises the
same read -> validate -> load path as a licensed data set. An optional ``Dataset`` column keeps the
source data set of each clip (per-source metrics of the MEGC2019 composite).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from train.data.records import RawClip, ReadResult, build_records, identity_scheme
from train.data.tables import read_table

REQUIRED_COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")


def read_coded_folder(
    root: Path, classes: Sequence[str], dataset: str, table: str = "annotations.csv", skip_invalid: bool = False
) -> ReadResult:
    """All valid clips under ``root``; raises one :class:`InputError` listing every bad row unless ``skip_invalid``."""
    root = Path(root)
    table_path = root / table
    raw = [
        RawClip(
            f"{table_path.name} row {number}",
            row.get("Dataset") or dataset,
            row["Subject"],
            row["Filename"],
            root / row["Subject"] / row["Filename"],
            row["OnsetFrame"],
            row["ApexFrame"],
            row["OffsetFrame"],
            row["Estimated Emotion"],
        )
        for number, row in read_table(table_path, REQUIRED_COLUMNS)
    ]
    return build_records(raw, table_path, identity_scheme(dataset, classes), skip_invalid)
