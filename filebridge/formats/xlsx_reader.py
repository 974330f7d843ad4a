"""Read one sheet of an Excel workbook (xlsx, xlsm, xls, ods) into a ``Table`` with calamine.

python-calamine (Rust, no macros, no formulas evaluated: the cached value is read) is
several times faster than pure-Python readers and never runs anything in the file.
Every cell becomes text: a date cell ``YYYY-MM-DD``, a date-time cell
``YYYY-MM-DD HH:MM:SS``, a whole number without ``.0``, a truth value ``true``/``false``.
A line is the sheet's row number, as Excel shows it; the header is the first non-empty
row. Blank rows are skipped like blank CSV lines.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import python_calamine as calamine

from filebridge.formats.csv_clean import Columns, drop_blank_records, drop_unnamed
from filebridge.formats.errors import FileRejected, rejected
from filebridge.formats.table import ReadLimits, Table, check_field_sizes, finish, to_frame
from filebridge.problems import Problem


@dataclass(frozen=True)
class SheetLayout:
    """Which sheet to read: by name, or the first one when ``sheet`` is empty."""

    sheet: str = ""


def cell_text(value: Any) -> str:
    """One cell as text, the same way for every reader of its column."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time() else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return "" if value is None else str(value)


def read_xlsx_bytes(raw: bytes, layout: SheetLayout, limits: ReadLimits, file: str) -> Table:
    """Read the layout's sheet of the workbook ``raw`` as text columns."""
    try:
        book = calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw))
        sheet = _sheet(book, layout, file)
        rows = sheet.to_python(skip_empty_area=True)
        first_row = int(sheet.start[0]) + 1 if sheet.start else 1
    except FileRejected:
        raise
    except Exception as exc:  # calamine raises its own errors and plain ValueErrors
        raise rejected(file, "xlsx-unreadable",
                       f"the workbook cannot be read: {type(exc).__name__}: {exc}") from None
    offset = next((i for i, r in enumerate(rows) if any(cell_text(v) for v in r)), None)
    if offset is None:
        raise rejected(file, "empty-file", f"sheet {sheet.name!r} has no header row")
    names = [cell_text(v).strip() for v in rows[offset]]
    header_line = first_row + offset
    _check_names(names, header_line, file)
    data = rows[offset + 1:]
    columns = [[cell_text(r[i]) if i < len(r) else "" for r in data] for i in range(len(names))]
    lines = np.arange(header_line + 1, header_line + 1 + len(data), dtype=np.int64)
    arrays = [pa.chunked_array([pa.array(c, pa.string())]) for c in columns]
    check_field_sizes(names, arrays, lines, limits.max_field_chars, file)
    cols = Columns(names, arrays, lines, len(data))
    notes = drop_unnamed(cols, header_line, file)
    drop_blank_records(cols)
    return finish(file, cols.names, to_frame(cols.names, cols.arrays), cols.lines, notes,
                  cols.rows_read, limits)


def _sheet(book: Any, layout: SheetLayout, file: str) -> Any:
    if not layout.sheet:
        return book.get_sheet_by_index(0)
    if layout.sheet not in book.sheet_names:
        raise rejected(file, "xlsx-no-sheet",
                       f"the workbook has no sheet {layout.sheet!r} (format.sheet); it has "
                       f"{', '.join(repr(n) for n in book.sheet_names)}")
    return book.get_sheet_by_name(layout.sheet)


def _check_names(names: list[str], line: int, file: str) -> None:
    seen: dict[str, int] = {}
    problems = []
    for i, name in enumerate(names, 1):
        if name and name in seen:
            problems.append(Problem("duplicate-header", f"column name {name!r} appears in "
                                    f"columns {seen[name]} and {i}", file, line, name))
        seen.setdefault(name, i)
    if problems:
        raise FileRejected(file, problems)
