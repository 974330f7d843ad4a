"""Read a CSV file into a ``Table``: strict decoding, Arrow for speed, exact physical lines.

Arrow (``pyarrow.csv``) parses the data with every column forced to text. Line numbers come
from arithmetic when the file allows it (no blank lines, no lone CR, no ragged rows, balanced
quotes: then record ``i`` starts at ``first + i`` plus the line breaks inside earlier values);
otherwise Python's ``csv`` module walks the file once more to find each record's real line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from filebridge.formats.csv_clean import (
    Columns,
    drop_blank_records,
    drop_unnamed,
    refuse_repeated_header,
)
from filebridge.formats.csv_marked import read_marked, strip_marker
from filebridge.formats.csv_scan import Header, Scan, read_header, scan_records
from filebridge.formats.decoding import read_bounded, to_utf8
from filebridge.formats.dialect import DELIMITERS, CsvDialect
from filebridge.formats.errors import FileRejected, rejected
from filebridge.formats.layouts import REJECT_MARKER_COLUMN, refuse_foreign_layout
from filebridge.formats.table import (
    DEFAULT_LIMITS,
    FORBIDDEN_CHARACTERS,
    ReadLimits,
    Table,
    check_field_sizes,
    code_point_name,
    escape_forbidden,
    finish,
    has_forbidden,
    to_frame,
)
from filebridge.problems import Problem

# A record larger than one block makes Arrow fail; the careful path then takes over.
_BLOCK_SIZE: Final = 16 << 20
# pandas keeps text as Arrow large strings: parsed as such, the columns become the
# frame as they are, instead of through a cast that holds both spellings at once.
TEXT: Final = pa.large_string()


def read_csv(path: Path, dialect: CsvDialect, limits: ReadLimits = DEFAULT_LIMITS, *,
             name: str | None = None) -> Table:
    """Read the CSV file at ``path`` as text columns; ``name`` (default: the file's name) is
    the file named in problems. Raises ``FileRejected`` when the file as a whole is unusable."""
    file = name or path.name
    table = read_csv_bytes(read_bounded(path, limits.max_file_bytes, file), dialect, limits, file)
    table.source = lambda: read_bounded(path, limits.max_file_bytes, file)
    return table


def read_csv_bytes(raw: bytes, dialect: CsvDialect, limits: ReadLimits, file: str) -> Table:
    """Read CSV ``raw`` bytes (the whole file, already size-checked) as text columns."""
    body = to_utf8(raw, dialect.encoding, file)
    refuse_foreign_layout(body, file)
    header = read_header(body, dialect, file, limits.max_field_chars)
    if dialect.record_terminator:
        header = replace(header, names=strip_marker(header.names, dialect))
    _check_header(header, dialect, file)
    records = _records(body, header, dialect, file, limits)
    check_field_sizes(header.names, records.arrays, records.lines, limits.max_field_chars, file)
    cols = Columns(list(header.names), records.arrays, records.lines, records.rows_read)
    notes = drop_unnamed(cols, header.line, file)
    refuse_repeated_header(cols, records.header_lines, file)
    drop_blank_records(cols)
    from_rejects = bool(cols.names) and cols.names[-1] == REJECT_MARKER_COLUMN
    if from_rejects:
        cols.names, cols.arrays = cols.names[:-1], cols.arrays[:-1]
    frame = to_frame(cols.names, cols.arrays)
    table = finish(file, cols.names, frame, cols.lines, records.problems + notes,
                   cols.rows_read, limits, scan_controls=has_forbidden(body, header.data_offset),
                   dropped=records.dropped)
    table.dialect, table.from_reject_file = dialect, from_rejects
    return table


def _records(body: bytes, header: Header, dialect: CsvDialect, file: str,
             limits: ReadLimits) -> _Records:
    ncols = len(header.names)
    if dialect.record_terminator:
        text = str(memoryview(body)[header.data_offset:], "utf-8")
        marked = read_marked(text, dialect, header.names, header.data_line, file,
                             limits.max_problems)
        columns = [pa.chunked_array([pa.array(col, TEXT)]) for col in marked.values]
        return _Records(columns, np.array(marked.lines, dtype=np.int64), marked.rows_read,
                        marked.problems, marked.dropped, marked.header_lines)
    arrays, invalid = _parse_with_arrow(body, header.data_offset, dialect, ncols)
    quote = dialect.quotechar.encode() if dialect.quoting == "minimal" else b""
    lines = (None if arrays is None or invalid
             else _lines_by_arithmetic(body, header, arrays, quote))
    if arrays is not None and lines is not None:
        return _Records(arrays, lines, len(lines))
    return _read_carefully(body, header, dialect, file, limits, arrays)


@dataclass
class _Records:
    arrays: list[pa.ChunkedArray]
    lines: np.ndarray
    rows_read: int
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    header_lines: list[int] = field(default_factory=list)


def _read_carefully(body: bytes, header: Header, dialect: CsvDialect, file: str,
                    limits: ReadLimits, arrays: list[pa.ChunkedArray] | None) -> _Records:
    """Lines (and, when Arrow could not parse the file, values) from Python's csv module."""
    text = str(memoryview(body)[header.data_offset:], "utf-8")
    ncols = len(header.names)
    scan = scan_records(text, dialect, ncols, header.data_line, file, limits.max_field_chars,
                        limits.max_problems, keep_values=arrays is None, header=header.names)
    _check_last_record(scan, body, ncols, file)
    full = scan.widths == ncols
    records = _Records(arrays or [], scan.starts[full], len(scan.starts), scan.problems,
                       scan.dropped, scan.header_lines)
    if arrays is None or len(arrays[0]) != len(records.lines):
        # Arrow failed, or split records differently from Python on odd quoting:
        # Python's values are the ones whose lines are known.
        if scan.values is None:
            scan = scan_records(text, dialect, ncols, header.data_line, file,
                                limits.max_field_chars, 0, keep_values=True)
        assert scan.values is not None
        records.arrays = [pa.chunked_array([pa.array(col, TEXT)]) for col in scan.values]
    return records


def _parse_with_arrow(body: bytes, offset: int, dialect: CsvDialect,
                      ncols: int) -> tuple[list[pa.ChunkedArray] | None, int]:
    """The data's columns as Arrow strings and the number of ragged records skipped.

    ``None`` when Arrow cannot parse the file (e.g. a record larger than a block).
    """
    if offset >= len(body):
        return [pa.chunked_array([], TEXT) for _ in range(ncols)], 0
    invalid = 0

    def skip_invalid(row: pacsv.InvalidRow) -> str:
        # Arrow's row numbers are None with threads and count records, not lines:
        # only count here; the careful path finds the lines.
        nonlocal invalid
        invalid += 1
        return "skip"

    names = [f"c{i}" for i in range(ncols)]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(body)[offset:]),
            read_options=pacsv.ReadOptions(column_names=names, block_size=_BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.delimiter, double_quote=True,
                quote_char=dialect.quotechar if dialect.quoting == "minimal" else False,
                escape_char=False, newlines_in_values=dialect.quoting == "minimal",
                ignore_empty_lines=True,
                invalid_row_handler=skip_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: TEXT for n in names}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                check_utf8=False))  # the body was validated or produced by our own encoder
    except pa.ArrowInvalid:
        return None, 0
    return list(table.columns), invalid


def _lines_by_arithmetic(body: bytes, header: Header, arrays: list[pa.ChunkedArray],
                         quote: bytes) -> np.ndarray | None:
    """Each record's start line when counting line breaks can be trusted, else ``None``.

    Every record ends with one LF (or is the last one) and holds the LFs inside its values;
    any other LF is a blank line, which Arrow skips and arithmetic cannot place.
    """
    start, n = header.data_offset, len(arrays[0]) if arrays else 0
    # find() runs at memory speed where count() steps byte by byte: most exports have no
    # CR at all, and many no quote, so the counts run only when there is one.
    if body.find(b"\r", start) >= 0 and body.count(b"\r", start) != body.count(b"\r\n", start):
        return None  # a lone CR is a line break to people and to Python's csv
    if quote and body.find(quote, start) >= 0 and body.count(quote, start) % 2:
        return None  # unbalanced quotes: possibly cut off inside a quoted value
    breaks = body.count(b"\n", start)
    ends_open = n > 0 and not body.endswith(b"\n")
    record_ends = n - 1 if ends_open else n
    first = header.data_line
    if breaks == record_ends:
        return first + np.arange(n, dtype=np.int64)
    if not quote:
        return None  # without quoting no value holds a line break: blank lines are about
    inside = np.zeros(n, dtype=np.int64)
    for arr in arrays:
        inside += pc.count_substring(arr, "\n").to_numpy()
    if breaks != record_ends + int(inside.sum()):
        return None
    before = np.concatenate(([0], np.cumsum(inside)[:-1])) if n else inside
    return first + np.arange(n, dtype=np.int64) + before


def _check_last_record(scan: Scan, body: bytes, ncols: int, file: str) -> None:
    """A short last record without a final line break means the upload was cut off."""
    if len(scan.widths) and scan.widths[-1] < ncols and not body.endswith((b"\n", b"\r")):
        line = int(scan.starts[-1])
        raise rejected(file, "truncated-file",
                       f"the last record (line {line}) has {int(scan.widths[-1])} of {ncols} "
                       f"fields and the file does not end with a line break: it was probably "
                       f"cut off during transfer", line=line)


def _check_header(header: Header, dialect: CsvDialect, file: str) -> None:
    """Blank, duplicate or invisible-character names, or a header split on the wrong delimiter."""
    names, line, problems = header.names, header.line, []
    if len(names) == 1:
        counts = Counter(ch for ch in names[0] if ch in DELIMITERS and ch != dialect.delimiter)
        if counts:
            seen = counts.most_common(1)[0][0]
            problems.append(Problem(
                "delimiter-mismatch",
                f"the header is a single column that contains {seen!r}: the file seems to use "
                f"{seen!r} as delimiter but the mapping declares {dialect.delimiter!r} "
                f"(format.delimiter)", file, line, None, names[0][:200]))
    blank = [Problem("empty-header", f"column {i} of the header has no name", file, line)
             for i, col in enumerate(names, 1) if not col.strip()]
    for i, col in enumerate(names, 1):
        bad = [ch for ch in col if ch in FORBIDDEN_CHARACTERS]
        if bad:
            problems.append(Problem(
                "control-character", f"header column {i} contains {code_point_name(bad[0])}, "
                f"an invisible or control character", file, line, None, escape_forbidden(col)))
    for col, count in Counter(names).items():
        if count > 1 and col.strip():
            where = ", ".join(str(i) for i, n in enumerate(names, 1) if n == col)
            problems.append(Problem("duplicate-header",
                                    f"column name {col!r} appears {count} times (columns {where})",
                                    file, line, col))
    if problems:  # blank names alone are judged with the data (empty columns are dropped)
        raise FileRejected(file, sorted(blank + problems, key=lambda p: p.code != "empty-header"))
