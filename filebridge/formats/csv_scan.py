"""Python's ``csv`` module as the careful path: the header, exact physical lines, ragged rows.

Arrow parses the bulk of a file; this module is used for the header and whenever the cheap
line-number arithmetic cannot be trusted (blank lines, lone CRs, ragged rows, an odd number
of quote characters, a record too large for Arrow). ``reader.line_num`` counts physical
lines, which is exactly what problems report.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np

from filebridge.formats.dialect import CsvDialect
from filebridge.formats.errors import FileRejected, rejected
from filebridge.problems import Problem

if TYPE_CHECKING:
    from _csv import Reader

# Appended after the data: if it comes back as a record of its own, the file did not end
# inside a quoted field. Private-use characters so no real file contains it.
_EOF: Final = "\ue000filebridge:end-of-file\ue000"
_LINE_END: Final = re.compile(rb"\r\n|\r|\n")
_SEP_LINE: Final = re.compile(r"sep=(.)", re.IGNORECASE)
_RAW_CAP: Final = 10_000  # characters of a ragged row kept in its problem
# csv.field_size_limit is process-wide state; set and restore it under a lock.
_FIELD_LIMIT_LOCK: Final = threading.Lock()


@dataclass(frozen=True)
class Header:
    """The header record and where the data starts."""

    names: list[str]
    line: int  # physical line of the header's first line (2 after a ``sep=`` line)
    data_offset: int  # byte offset in the UTF-8 body where the first data line starts
    data_line: int  # physical line number of that first data line


@dataclass
class Scan:
    """Every non-blank record's start line and field count; values of the full-width ones."""

    starts: np.ndarray
    widths: np.ndarray
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    values: list[list[str]] | None = None
    header_lines: list[int] = field(default_factory=list)  # ragged records made of header names


def record_reader(lines: Iterator[str], dialect: CsvDialect) -> Reader:
    """Python's csv reader over ``lines`` in ``dialect``'s quoting."""
    if dialect.quoting == "none":
        return csv.reader(lines, delimiter=dialect.delimiter, quoting=csv.QUOTE_NONE,
                          strict=False)
    return csv.reader(lines, delimiter=dialect.delimiter, quotechar=dialect.quotechar,
                      doublequote=True, strict=False)


class _FieldLimit:
    """Context manager: ``csv.field_size_limit(n)`` for the duration, restored after."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __enter__(self) -> None:
        _FIELD_LIMIT_LOCK.acquire()
        self.saved = csv.field_size_limit(self.limit)

    def __exit__(self, *exc: object) -> None:
        csv.field_size_limit(self.saved)
        _FIELD_LIMIT_LOCK.release()


def _physical_lines(body: bytes, start: int) -> Iterator[tuple[str, int]]:
    """Each physical line from byte ``start`` on, with the byte offset just after it."""
    pos = start
    for m in _LINE_END.finditer(body, start):
        yield body[pos:m.end()].decode("utf-8"), m.end()
        pos = m.end()
    if pos < len(body):
        yield body[pos:].decode("utf-8"), len(body)


def _too_large(file: str, line: int, limit: int) -> FileRejected:
    return rejected(file, "field-too-large",
                    f"the record starting at line {line} has a value longer than the limit "
                    f"of {limit:,} characters (limits.max_field_chars)", line=line)


def read_header(body: bytes, dialect: CsvDialect, file: str, max_field_chars: int) -> Header:
    """Parse the header record (after an Excel ``sep=`` line naming the declared delimiter)."""
    first = next(_physical_lines(body, 0), None)
    if first is None or (not first[0].strip() and not body.strip()):
        raise rejected(file, "empty-file", "the file has no header line (only blank lines)")
    line, start = 1, 0
    sep = _SEP_LINE.fullmatch(first[0].rstrip("\r\n"))
    if sep:
        seen = sep.group(1)
        if seen != dialect.delimiter:
            raise rejected(file, "delimiter-mismatch",
                           f"line 1 is an Excel 'sep={seen}' line: the file uses {seen!r} as "
                           f"delimiter but the mapping declares {dialect.delimiter!r} "
                           f"(format.delimiter)", line=1, value=first[0].rstrip("\r\n"))
        line, start = 2, first[1]
    offsets: list[int] = []  # byte offset after each line handed to the reader

    def source() -> Iterator[str]:
        for text, end in _physical_lines(body, start):
            offsets.append(end)
            yield text

    reader = record_reader(source(), dialect)
    with _FieldLimit(max_field_chars):
        try:
            names: list[str] = next(reader, [])
        except csv.Error:
            raise _too_large(file, line, max_field_chars) from None
    if not names and not body[start:].strip():
        raise rejected(file, "empty-file", "the file has only an Excel 'sep=' line, no header")
    if not names:
        raise rejected(file, "empty-header", f"line {line} is blank where the header should be",
                       line=line)
    end = offsets[reader.line_num - 1]
    return Header(names, line, end, line + reader.line_num)


def looks_like_header(row: Sequence[str], names: set[str]) -> bool:
    """Whether a record of another width is a header: at least half of ``names`` (two or
    more) among its fields, as when a wider or narrower export was appended."""
    found = {v.strip() for v in row} & names
    return len(found) >= max(2, (len(names) + 1) // 2)


def scan_records(text: str, dialect: CsvDialect, ncols: int, first_line: int, file: str,
                 max_field_chars: int, max_problems: int, keep_values: bool,
                 header: Sequence[str] = ()) -> Scan:
    """Walk every record of ``text`` (the data after the header) with Python's csv module.

    Raises ``field-too-large`` and ``truncated-file``; records with a field count other
    than ``ncols`` become ``ragged-row`` problems (at most ``max_problems`` of them), or,
    when every field is a name of ``header``, a line in ``header_lines`` (another export's
    header). A record of empty fields only, of whatever width, is a blank line.
    """
    source = itertools.chain(io.StringIO(text, newline=""), ["\n", _EOF + "\n"])
    reader = record_reader(source, dialect)
    starts: list[int] = []
    widths: list[int] = []
    values: list[list[str]] | None = [[] for _ in range(ncols)] if keep_values else None
    problems: list[Problem] = []
    dropped, prev, at_eof = 0, 0, False
    names = {n.strip() for n in header}
    header_lines: list[int] = []
    with _FieldLimit(max_field_chars):
        while True:
            try:
                row = next(reader, None)
            except csv.Error as exc:
                if "field limit" in str(exc):
                    raise _too_large(file, first_line + prev, max_field_chars) from None
                raise rejected(file, "malformed-csv", f"line {first_line + prev}: {exc}",
                               line=first_line + prev) from None
            if row is None:
                break
            start, prev = first_line + prev, reader.line_num
            if row == [_EOF]:
                at_eof = True
                break
            if not row or (len(row) != ncols and not any(row)):
                continue
            starts.append(start)
            widths.append(len(row))
            if len(row) != ncols:
                if looks_like_header(row, names):
                    header_lines.append(start)
                elif len(problems) < max_problems:
                    problems.append(_ragged(file, start, ncols, row, dialect.delimiter))
                else:
                    dropped += 1
            elif values is not None:
                for col, value in zip(values, row, strict=True):
                    col.append(value)
    if not at_eof:
        line = starts[-1] if starts else first_line
        raise rejected(file, "truncated-file",
                       f"the file ends inside a quoted value that starts in the record at line "
                       f"{line}: it was probably cut off during transfer", line=line)
    return Scan(np.array(starts, dtype=np.int64), np.array(widths, dtype=np.int64),
                problems, dropped, values, header_lines)


def _ragged(file: str, line: int, ncols: int, row: list[str], delimiter: str) -> Problem:
    what = "more" if len(row) > ncols else "fewer"
    return Problem("ragged-row",
                   f"the record has {len(row)} fields but the header has {ncols} ({what} "
                   f"fields than columns); the row is rejected, no value is shifted",
                   file, line, None, delimiter.join(row)[:_RAW_CAP])
