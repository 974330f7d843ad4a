"""What spreadsheets and joined exports leave in a CSV file, handled column-wise.

Excel saves a sheet whose used range is wider than the data with empty header cells
(``…,Location,,,``) and comma-only rows (``,,,,``): the unnamed columns are dropped
with a warning when they hold nothing, and blank records are skipped (not rows, not
rejects). Two exports joined into one file repeat the header mid-file, possibly in
another column order: the rows after it cannot be trusted, so the file is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.formats.errors import FileRejected, rejected
from filebridge.problems import Problem


@dataclass
class Columns:
    """Named text columns with each record's start line and the records counted as rows."""

    names: list[str]
    arrays: list[pa.ChunkedArray]
    lines: np.ndarray
    rows_read: int


def drop_unnamed(cols: Columns, header_line: int, file: str) -> list[Problem]:
    """Drop empty-named columns that hold no value; refuse the file when one holds values.

    Returns one warning per dropped column. Works in place on ``cols``.
    """
    unnamed = [i for i, n in enumerate(cols.names) if not n.strip()]
    if not unnamed:
        return []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for i in unnamed:
        arr = cols.arrays[i]
        filled = pc.greater(pc.binary_length(arr), 0) if len(arr) else None
        if filled is not None and pc.any(filled).as_py():
            row = int(np.argmax(np.asarray(filled)))
            problems.append(Problem(
                "empty-header", f"column {i + 1} of the header has no name but holds values "
                f"(the first at line {int(cols.lines[row])}); name it in the source system",
                file, header_line, None, arr[row].as_py()[:200]))
        else:
            warnings.append(Problem(
                "empty-header", f"column {i + 1} of the header has no name and no values: "
                f"ignored (a spreadsheet's empty trailing cells)", file, header_line,
                severity="warning"))
    if problems:
        raise FileRejected(file, problems)
    keep = [i for i in range(len(cols.names)) if i not in set(unnamed)]
    cols.names = [cols.names[i] for i in keep]
    cols.arrays = [cols.arrays[i] for i in keep]
    return warnings


def drop_blank_records(cols: Columns) -> None:
    """Remove records whose every value is empty (``,,,,``); they are not rows at all.

    In a one-column file an empty record can only be written quoted (``""``), on purpose.
    """
    if len(cols.arrays) < 2 or not len(cols.arrays[0]):
        return
    blank = pc.equal(pc.binary_length(cols.arrays[0]), 0)
    if not pc.any(blank).as_py():  # the usual case: one cheap pass over one column
        return
    for arr in cols.arrays[1:]:
        blank = pc.and_(blank, pc.equal(pc.binary_length(arr), 0))
    mask = np.asarray(blank, dtype=bool)
    count = int(mask.sum())
    if not count:
        return
    keep = pa.array(~mask)
    cols.arrays = [arr.filter(keep) for arr in cols.arrays]
    cols.lines = cols.lines[~mask]
    cols.rows_read -= count


def refuse_repeated_header(cols: Columns, header_lines: Sequence[int], file: str) -> None:
    """Refuse a file in which a record repeats the header's names, in any order."""
    lines = list(header_lines)
    names = [n.strip() for n in cols.names]
    if cols.arrays and len(cols.arrays[0]) and len(names) > 1:
        text = cols.arrays[0].type
        pool = pa.array(sorted(set(names)), text)
        loose = pa.array(sorted(set(names) | set(cols.names)), text)
        candidate = pc.is_in(pc.utf8_trim_whitespace(cols.arrays[0]), value_set=pool) \
            if pc.any(pc.is_in(cols.arrays[0], value_set=loose)).as_py() else None
        if candidate is not None:
            # rare: then every column must hold a header name
            for arr in cols.arrays[1:]:
                candidate = pc.and_(candidate, pc.is_in(pc.utf8_trim_whitespace(arr),
                                                        value_set=pool))
            for row in np.flatnonzero(np.asarray(candidate, dtype=bool)):
                values = sorted(str(col[int(row)].as_py()).strip() for col in cols.arrays)
                if values == sorted(names):
                    lines.append(int(cols.lines[row]))
    if not lines:
        return
    first = min(lines)
    raise rejected(file, "repeated-header",
                   f"line {first} repeats the header: two exports seem to be joined into one "
                   f"file, and the rows after it may have another column order; the file is "
                   f"refused as a whole (send each export as a file of its own)", line=first)
