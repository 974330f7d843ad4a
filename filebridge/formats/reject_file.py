"""The reject file: the source's own records, copied byte for byte, with a reason column.

A reject file is written in the spelling of the file it came from (delimiter, quoting,
record terminator, encoding and byte-order mark, line ends, an Excel ``sep=`` line): the
header and each rejected record are copied from the source as they are, and one column,
``REJECT_MARKER_COLUMN``, is appended with the reasons. HR fixes the rows and drops the
file again; the marker column makes it a delta (see ``filebridge.formats.layouts``), and
the values come back exactly as the HR system wrote them. No formula neutralisation here:
a ``'`` in front of ``+1 555`` would flow into the LMS on the way back.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from filebridge.durable import fsync_folder
from filebridge.formats.csv_scan import read_header, record_reader
from filebridge.formats.decoding import to_utf8
from filebridge.formats.dialect import CsvDialect
from filebridge.formats.layouts import REJECT_MARKER_COLUMN

_LINE: Final = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_BOMS: Final = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                (codecs.BOM_UTF16_BE, "utf-16-be"))


def copy_rejected_records(raw: bytes, dialect: CsvDialect, reasons: Mapping[int, str],
                          target: Path) -> None:
    """Write ``target``: the header of the CSV file ``raw`` and its records starting at the
    lines of ``reasons`` (physical, 1-based), each followed by its reason, in its spelling."""
    bom, codec = _spelling(raw, dialect)
    text = to_utf8(raw, dialect.encoding, target.name).decode("utf-8")
    lines = _LINE.findall(text)
    if lines and lines[-1] == "":
        lines.pop()
    header = read_header(text.encode("utf-8"), dialect, target.name, 1 << 30)
    newline = _ending(lines[header.line - 1]) or dialect.line_terminator
    out = [*lines[:header.line - 1],
           _append(_record(lines, header.line, header.data_line - header.line),
                   REJECT_MARKER_COLUMN, dialect, newline, codec)]
    for start in sorted(reasons):
        if header.data_line <= start <= len(lines):
            span = _span(lines, start, dialect)
            out.append(_append(_record(lines, start, span), reasons[start], dialect, newline,
                               codec))
    _atomic_write(target, bom + "".join(out).encode(codec))


def _spelling(raw: bytes, dialect: CsvDialect) -> tuple[bytes, str]:
    """The byte-order mark the source starts with and the codec to write the rest in."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return bom, codec
    return b"", dialect.codec


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):]


def _record(lines: list[str], start: int, span: int) -> str:
    return "".join(lines[start - 1:start - 1 + span])


def _span(lines: list[str], start: int, dialect: CsvDialect) -> int:
    """How many physical lines the record starting at line ``start`` takes."""
    if dialect.record_terminator:
        marker, n = dialect.record_terminator, start
        while n < len(lines) and not lines[n - 1].rstrip("\r\n").endswith(marker):
            n += 1
        return n - start + 1
    if dialect.quoting == "none":
        return 1
    # A generator, not a slice: a slice would copy the rest of the file for every
    # rejected record (a million-line file with 10,000 rejects took minutes).
    rest = (lines[i] for i in range(start - 1, len(lines)))
    reader = record_reader(rest, dialect)
    try:
        next(reader, None)
    except csv.Error:
        return 1
    return max(reader.line_num, 1)


def _append(record: str, reason: str, dialect: CsvDialect, newline: str, codec: str) -> str:
    """``record`` with ``reason`` as one more field before its terminator and line end.

    The record came from the file, so it encodes; the reason may quote a value the
    encoding cannot hold, which is then shown as ``?``.
    """
    end = _ending(record) or newline
    body = record[:len(record) - len(end if _ending(record) else "")]
    marker = dialect.record_terminator
    marked = bool(marker) and body.endswith(marker)
    if marked:
        body = body[:-len(marker)]
    reason = reason.encode(codec, "replace").decode(codec)
    return body + dialect.delimiter + _field(reason, dialect) + (marker if marked else "") + end


def _field(value: str, dialect: CsvDialect) -> str:
    if dialect.quoting == "none":
        # Nothing can be quoted: the reason must not split the record.
        return re.sub(r"[\r\n]+", " ", value).replace(dialect.delimiter, " ")
    if any(ch in value for ch in (dialect.delimiter, dialect.quotechar, "\r", "\n")):
        q = dialect.quotechar
        return q + value.replace(q, q + q) + q
    return value


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
