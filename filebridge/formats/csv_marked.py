"""Records that end with a marker (``…|Berlin~``): a line break without it is inside a value.

Some HR exports never quote and end every record with a fixed text before the line break
instead, so a value may hold line breaks. Such files are rare and small next to nightly
CSV snapshots, so they are split with a regular expression rather than Arrow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from filebridge.formats.csv_scan import looks_like_header
from filebridge.formats.decoding import count_line_breaks
from filebridge.formats.dialect import CsvDialect
from filebridge.formats.errors import rejected
from filebridge.problems import Problem

_RAW_CAP = 10_000  # characters of a ragged record kept in its problem


@dataclass
class MarkedRecords:
    """Values of the full-width records, their start lines, and what else was found."""

    values: list[list[str]]
    lines: list[int]
    rows_read: int = 0
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    header_lines: list[int] = field(default_factory=list)


def strip_marker(names: list[str], dialect: CsvDialect) -> list[str]:
    """The header's names without the record terminator after the last one."""
    marker = dialect.record_terminator
    if names and marker and names[-1].endswith(marker):
        return [*names[:-1], names[-1][:-len(marker)]]
    return names


def read_marked(text: str, dialect: CsvDialect, names: list[str], first_line: int, file: str,
                max_problems: int) -> MarkedRecords:
    """Split ``text`` (the data after the header) into records ended by the marker."""
    ncols, marker = len(names), dialect.record_terminator
    ends = re.compile(re.escape(marker) + r"(?:\r\n|\n|\r|\Z)")
    known = {n.strip() for n in names}
    out = MarkedRecords([[] for _ in range(ncols)], [])
    pos, line = 0, first_line
    for m in ends.finditer(text):
        record = text[pos:m.start()]
        body = record.lstrip("\r\n")
        line += count_line_breaks(record[:len(record) - len(body)])
        fields = body.split(dialect.delimiter)
        if any(fields):
            out.rows_read += 1
            _place(out, fields, ncols, line, known, file, dialect.delimiter, max_problems)
        line += count_line_breaks(body) + (m.end() > m.start() + len(marker))
        pos = m.end()
    rest = text[pos:]
    if rest.strip("\r\n"):
        line += count_line_breaks(rest[:len(rest) - len(rest.lstrip("\r\n"))])
        raise rejected(file, "truncated-file",
                       f"the record at line {line} does not end with the record terminator "
                       f"{marker!r} (format.record_terminator): the file was probably cut "
                       f"off during transfer", line=line)
    return out


def _place(out: MarkedRecords, fields: list[str], ncols: int, line: int, known: set[str],
           file: str, delimiter: str, max_problems: int) -> None:
    if len(fields) == ncols:
        out.lines.append(line)
        for col, value in zip(out.values, fields, strict=True):
            col.append(value)
    elif looks_like_header(fields, known):
        out.header_lines.append(line)
    elif len(out.problems) < max_problems:
        what = "more" if len(fields) > ncols else "fewer"
        out.problems.append(Problem(
            "ragged-row", f"the record has {len(fields)} fields but the header has {ncols} "
            f"({what} fields than columns); the row is rejected, no value is shifted",
            file, line, None, delimiter.join(fields)[:_RAW_CAP]))
    else:
        out.dropped += 1
