"""The reject file copies rejected records byte for byte, in the source's own spelling."""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from filebridge.formats import CsvDialect, read_csv
from filebridge.formats.dialect import DELIMITERS
from filebridge.formats.layouts import REJECT_MARKER_COLUMN
from filebridge.formats.reject_file import copy_rejected_records
from filebridge.formats.table import FORBIDDEN_CHARACTERS

NAMES = ["Employee ID", "Name", "Phone"]
# Non-ASCII cp1252 letters whose bytes (DF, FC, F6) can never form valid UTF-8 here, so a
# cp1252 file is never mistaken for UTF-8; the rest is ASCII without control characters.
CP1252_TEXT = st.text(st.sampled_from([*"abcXYZ 019+-=@'.", "ß", "ü", "ö"]), max_size=8)
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"],
                                 exclude_characters=FORBIDDEN_CHARACTERS), max_size=8)
TRICKY = st.sampled_from([",", ";", "|", "\t", '"', "\r", "\n", "\r\n", " ", "+1 555", "=1"])


@st.composite
def sources(draw: st.DrawFn) -> tuple[CsvDialect, bytes, list[str], list[list[str]]]:
    """A dialect, the file's bytes, each record's exact text, and each record's values."""
    quoting = draw(st.sampled_from(["minimal", "none"]))
    delimiter = draw(st.sampled_from(DELIMITERS))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    dialect = CsvDialect(delimiter, encoding=encoding, quoting=quoting,
                         record_terminator=draw(st.sampled_from(["", "~"])) if quoting == "none"
                         else "",
                         line_terminator=draw(st.sampled_from(["\r\n", "\n", "\r"])))
    plain = CP1252_TEXT if encoding == "cp1252" else ANY_TEXT
    if quoting == "none":  # nothing may hold the delimiter, a line break or the marker
        value = plain.filter(lambda v: not any(c in v for c in (delimiter, "\r", "\n", "~")))
    else:
        value = st.lists(st.one_of(plain, TRICKY), max_size=4).map("".join)
    rows = draw(st.lists(st.lists(value, min_size=3, max_size=3).filter(any), min_size=1,
                         max_size=8))
    assume(all(sorted(v.strip() for v in r) != sorted(NAMES) for r in rows))
    texts = [_record(r, dialect, draw) for r in rows]
    header = _record(NAMES, dialect, draw)
    text = header + "".join(texts)
    bom = codecs.BOM_UTF8 if encoding == "utf-8-sig" else b""
    body = text.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    return dialect, bom + body, [header, *texts], rows


def _record(values: list[str], dialect: CsvDialect, draw: st.DrawFn) -> str:
    fields = []
    for v in values:
        must = any(c in v for c in (dialect.delimiter, '"', "\r", "\n"))
        if dialect.quoting == "minimal" and (must or draw(st.booleans())):
            v = '"' + v.replace('"', '""') + '"'  # sometimes quoted without need
        fields.append(v)
    return dialect.delimiter.join(fields) + dialect.record_terminator + dialect.line_terminator


def _body(record: str, dialect: CsvDialect) -> str:
    return record[:-len(dialect.line_terminator)][:len(record) - len(dialect.line_terminator)
                                                  - len(dialect.record_terminator)]


@settings(max_examples=150, deadline=None)
@given(sources(), st.data())
def test_rejected_records_round_trip_byte_for_byte(
        source: tuple[CsvDialect, bytes, list[str], list[list[str]]], data: st.DataObject) -> None:
    dialect, raw, texts, rows = source
    with tempfile.TemporaryDirectory() as folder:
        path, target = Path(folder) / "hr.csv", Path(folder) / "rejects.csv"
        path.write_bytes(raw)
        table = read_csv(path, dialect)
        assert table.frame.values.tolist() == rows
        chosen = sorted(data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1)))
        reasons = {int(table.lines[i]): f"line {int(table.lines[i])} rejected" for i in chosen}
        copy_rejected_records(path.read_bytes(), dialect, reasons, target)
        written = target.read_bytes()
        again = read_csv(target, dialect)
    expected = "".join(
        _body(t, dialect) + dialect.delimiter + reason + dialect.record_terminator
        + dialect.line_terminator
        for t, reason in zip([texts[0], *(texts[i + 1] for i in chosen)],
                             [REJECT_MARKER_COLUMN, *reasons.values()], strict=True))
    bom = codecs.BOM_UTF8 if dialect.encoding == "utf-8-sig" else b""
    assert written == bom + expected.encode("utf-8" if bom else dialect.encoding)
    assert again.from_reject_file and again.columns == NAMES
    assert again.frame.values.tolist() == [rows[i] for i in chosen]


def test_reasons_with_delimiters_quotes_and_newlines_stay_one_field(tmp_path: Path) -> None:
    path, target = tmp_path / "hr.csv", tmp_path / "rejects.csv"
    path.write_bytes(b'id;name\r\n1;"Zo\xeb"\r\n2;Bo\r\n')
    dialect = CsvDialect(";", encoding="cp1252")
    copy_rejected_records(path.read_bytes(), dialect, {3: 'bad; "very"\nbad \u4e2d'}, target)
    assert target.read_bytes() == (b'id;name;filebridge_error\r\n'
                                   b'2;Bo;"bad; ""very""\nbad ?"\r\n')
    unquoted = CsvDialect("|", quoting="none")
    path.write_bytes(b"id|name\n1|A\n")
    copy_rejected_records(path.read_bytes(), unquoted, {2: "a|b\nc"}, target)
    assert target.read_bytes() == b"id|name|filebridge_error\n1|A|a b c\n"


def test_excel_sep_line_and_a_ragged_record_are_copied(tmp_path: Path) -> None:
    path, target = tmp_path / "hr.csv", tmp_path / "rejects.csv"
    path.write_bytes(b'sep=;\r\nid;name\r\n1;"two\r\nlines"\r\n2;x;extra\r\n3;ok\r\n')
    dialect = CsvDialect(";")
    copy_rejected_records(path.read_bytes(), dialect, {3: "r1", 5: "ragged"}, target)
    assert target.read_bytes() == (b'sep=;\r\nid;name;filebridge_error\r\n'
                                   b'1;"two\r\nlines";r1\r\n2;x;extra;ragged\r\n')
