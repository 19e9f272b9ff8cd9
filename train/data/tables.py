"""Coding tables (.xlsx with openpyxl, or .csv) -> rows keyed by column name, with the header row
found wherever it is (SAMM's spreadsheet has a dozen rows of description above its header)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from mpt_edge.errors import InputError
from mpt_edge.limits import SHEET_BYTES, SHEET_COLUMNS, SHEET_ROWS

HEADER_SEARCH_ROWS = 40


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _raw_rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".csv":
        _check_bytes(path, path.stat().st_size)
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                return _bounded(path, csv.reader(handle))
        except (UnicodeDecodeError, csv.Error) as error:
            raise InputError(f"cannot parse coding table {path}: {error}; save it as UTF-8 CSV") from None
    return read_sheets(path)[0]


def read_sheets(path: Path) -> list[list[list[str]]]:
    """Every worksheet's rows (cells as text) of an .xlsx, read within the limits of
    :mod:`mpt_edge.limits`: the sheet's claimed dimension is never trusted (openpyxl's read-only mode pads
    rows up to it: a 6 KB file claiming A1:XFD1048576 took 3 GB), rows and columns are counted as they
    are read, and the archive's unpacked size is checked before anything is unpacked."""
    import zipfile

    try:
        from openpyxl import load_workbook
    except ImportError:
        raise InputError("reading .xlsx coding sheets needs openpyxl: pip install 'mpt-edge[train]'") from None
    try:
        with zipfile.ZipFile(path) as archive:
            _check_bytes(path, sum(info.file_size for info in archive.infolist()))
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(
            f"cannot read spreadsheet {path} ({error}); download it again or export it as .xlsx/.csv"
        ) from None
    try:
        book = load_workbook(path, read_only=True, data_only=True)
        try:
            sheets = []
            for sheet in book.worksheets:
                sheet.reset_dimensions()  # forget the claimed A1:XFD1048576: read what is there
                sheets.append(_bounded(path, sheet.iter_rows(values_only=True)))
            return sheets
        finally:
            book.close()
    except InputError:
        raise
    except Exception as error:  # zip/xml errors of a corrupt workbook, XXE or entity expansion refused
        raise InputError(
            f"cannot read spreadsheet {path} ({type(error).__name__}: {error}); re-download "
            "it or export it as .xlsx/.csv"
        ) from None


def _check_bytes(path: Path, size: int) -> None:
    limit = SHEET_BYTES.value
    if size > limit:
        raise InputError(
            f"coding sheet {path} unpacks to {size / 1e6:.0f} MB, over the {limit / 1e6:g} MB limit of "
            f"{SHEET_BYTES.what} ({SHEET_BYTES.hint()})"
        )


def _bounded(path: Path, rows: Iterable[Sequence[object]]) -> list[list[str]]:
    """The rows as text, stopping with one line at the first row or column past the limits."""
    max_rows, max_columns = int(SHEET_ROWS.value), int(SHEET_COLUMNS.value)
    out: list[list[str]] = []
    blank = 0  # empty rows held back: trailing ones (padding) are dropped, not stored
    for row in rows:
        if len(out) + blank >= max_rows:
            raise InputError(
                f"coding sheet {path} has more than {max_rows} rows, the limit of {SHEET_ROWS.what} "
                f"({SHEET_ROWS.hint()})"
            )
        cells = list(row[: max_columns + 1])
        while cells and cells[-1] in (None, ""):
            cells.pop()
        if len(cells) > max_columns:
            raise InputError(
                f"coding sheet {path} has a cell past column {max_columns}, the limit of {SHEET_COLUMNS.what} "
                f"({SHEET_COLUMNS.hint()})"
            )
        if not cells:
            blank += 1
            continue
        out.extend([] for _ in range(blank))
        blank = 0
        out.append([_cell(v) for v in cells])
    return out


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
