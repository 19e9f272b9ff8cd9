"""Coding tables (.xlsx with openpyxl, or .csv) -> rows keyed by column name, with the header row
found wherever it is (SAMM's spreadsheet has a dozen rows of description above its header)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from mpt_edge.errors import InputError

HEADER_SEARCH_ROWS = 40


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _raw_rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".csv":
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                return [[_cell(v) for v in row] for row in csv.reader(handle)]
        except (UnicodeDecodeError, csv.Error) as error:
            raise InputError(f"cannot parse coding table {path}: {error}; save it as UTF-8 CSV") from None
    try:
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        return rows
    except ImportError:
        raise InputError("reading .xlsx coding tables needs openpyxl: pip install 'mpt-edge[train]'") from None
    except Exception as error:  # zip/xml errors of a corrupt workbook
        raise InputError(
            f"cannot read spreadsheet {path} ({type(error).__name__}: {error}); re-download "
            "it or export it as .xlsx/.csv"
        ) from None


def read_table(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, {column: cell}) for every non-empty row under the header row, the
    first row holding all ``required`` columns. Missing file or columns: one clear error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"coding table {path} does not exist; point --root at the data set folder as distributed")
    rows = _raw_rows(path)
    header_index = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if all(column in row for column in required):
            header_index = index
            break
    if header_index is None:
        best = max(rows[:HEADER_SEARCH_ROWS], key=lambda r: sum(c in r for c in required), default=[])
        missing = [c for c in required if c not in best]
        raise InputError(
            f"coding table {path} lacks column(s) {missing}; its header has "
            f"{[c for c in best if c]}. Expected {list(required)}"
        )
    header = rows[header_index]
    out = []
    for number, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        if not any(row):
            continue
        out.append((number, {name: (row[i] if i < len(row) else "") for i, name in enumerate(header) if name}))
    if not out:
        raise InputError(f"coding table {path} has no clips; it holds only a header")
    return out


def find_table(root: Path, patterns: Sequence[str], what: str) -> Path:
    """The first file under ``root`` (searched recursively, shallowest first) matching a pattern."""
    for pattern in patterns:
        hits = sorted(root.rglob(pattern), key=lambda p: (len(p.parts), str(p)))
        if hits:
            return hits[0]
    raise InputError(
        f"no {what} under {root} (looked for {', '.join(patterns)}); point --root at the data set folder as distributed"
    )
