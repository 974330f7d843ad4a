"""Golden-file tests of read_csv: encodings, dialects, line numbers, row and file problems."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from filebridge.errors import Terminal
from filebridge.formats import CsvDialect, FileRejected, ReadLimits, Table, read_csv
from filebridge.formats.table import FORBIDDEN_CHARACTERS

DATA = Path(__file__).parent.parent / "data" / "formats"


def rows(table: Table) -> list[dict[str, str]]:
    return table.frame.to_dict("records")


COMMA = CsvDialect()


def rejection(path: Path, dialect: CsvDialect = COMMA, **limits: int) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        read_csv(path, dialect, ReadLimits(**limits))
    assert isinstance(info.value, Terminal)
    return info.value


def codes(exc: FileRejected) -> list[tuple[str, int | None]]:
    return [(p.code, p.line) for p in exc.problems]


# --- encodings ---------------------------------------------------------------------------


def test_utf8_bom_is_stripped_and_first_header_intact() -> None:
    table = read_csv(DATA / "utf8_bom.csv", CsvDialect())
    assert table.columns == ["employee_id", "first_name", "last_name"]
    assert rows(table)[1] == {"employee_id": "000124", "first_name": "Zoë", "last_name": "Lefèvre"}
    assert table.lines.tolist() == [2, 3]


def test_bom_wins_over_declared_encoding() -> None:
    table = read_csv(DATA / "utf8_bom.csv", CsvDialect(encoding="cp1252"))
    assert table.columns[0] == "employee_id"
    assert table.frame["first_name"].tolist() == ["Anna", "Zoë"]


def test_cp1252_declared_reads_accents() -> None:
    table = read_csv(DATA / "cp1252.csv", CsvDialect(";", encoding="cp1252"))
    assert table.frame["first_name"].tolist() == ["Zoë", "José", "Åsa"]
    assert table.frame["city"].tolist() == ["Málaga", "Köln", "€ office"]


def test_cp1252_declared_utf8_is_undecodable_with_line_and_offset() -> None:
    exc = rejection(DATA / "cp1252.csv", CsvDialect(";"))
    [problem] = exc.problems
    header = len(b"employee_id;first_name;city\r\n")
    assert (problem.code, problem.line, problem.file) == ("undecodable-byte", 2, "cp1252.csv")
    assert f"byte offset {header + len(b'1;Zo')}" in problem.message
    assert "0xEB" in problem.message and "utf-8" in problem.message


def test_byte_undefined_in_cp1252_is_undecodable(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id,name\n1,a\n2,b\x81c\n")
    exc = rejection(path, CsvDialect(encoding="cp1252"))
    assert codes(exc) == [("undecodable-byte", 3)]
    assert "byte offset 15" in exc.problems[0].message


@pytest.mark.parametrize("name", ["utf16le_bom.csv", "utf16be_bom.csv"])
def test_utf16_with_bom(name: str) -> None:
    table = read_csv(DATA / name, CsvDialect())  # declared utf-8: the BOM wins
    assert table.columns == ["employee_id", "name"]
    assert table.frame["name"].iloc[0] in ("Zoë", "José")
    assert table.lines.tolist()[:1] == [2]


def test_utf16_le_reads_non_latin_names() -> None:
    table = read_csv(DATA / "utf16le_bom.csv", CsvDialect(encoding="utf-16"))
    assert table.frame["name"].tolist() == ["Zoë", "李小龍"]


# --- dialects and verbatim values -------------------------------------------------------------


def test_crlf_with_quoted_delimiters_and_newlines_keeps_lines_right() -> None:
    table = read_csv(DATA / "crlf_quoted.csv", CsvDialect())
    assert table.lines.tolist() == [2, 5, 6, 8]
    assert table.frame["name"].tolist() == ["Smith, Anna", "Bob", 'He said "hi"', "Dee"]
    assert table.frame["address"].tolist() == [
        "1 Main St\r\nFlat 2\r\nLondon",
        "x",
        "a\nb",
        "plain",
    ]
    assert table.frame["note"].tolist() == ["ok", "", "end", "quoted, with comma"]
    assert table.problems == [] and table.rows_read == 4


@pytest.mark.parametrize(
    ("name", "delimiter"), [("pipe.csv", "|"), ("tab.tsv", "\t"), ("semicolon.csv", ";")]
)
def test_other_delimiters(name: str, delimiter: str) -> None:
    table = read_csv(DATA / name, CsvDialect(delimiter))
    assert len(table.columns) == 3 and table.lines.tolist() == [2, 3]
    assert table.frame.iloc[1].tolist()[1] in ("A|B", "Bob")


def test_custom_quote_character(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(b"id;name\n1;'a;b'\n2;'it''s\nhere'\n3;\"x\"\n")
    table = read_csv(path, CsvDialect(";", quotechar="'"))
    assert table.frame["name"].tolist() == ["a;b", "it's\nhere", '"x"']
    assert table.lines.tolist() == [2, 3, 5]


def test_semicolon_file_keeps_decimal_comma_as_text() -> None:
    table = read_csv(DATA / "semicolon.csv", CsvDialect(";"))
    assert table.frame["salary"].tolist() == ["1234,50", "99"]


def test_excel_sep_line_is_skipped_when_it_names_the_declared_delimiter() -> None:
    table = read_csv(DATA / "excel_sep.csv", CsvDialect(";"))
    assert table.columns == ["id", "name", "amount"]
    assert table.frame["amount"].tolist() == ["12,5", "7"]
    assert table.lines.tolist() == [3, 4]


def test_excel_sep_line_for_another_delimiter_is_a_mismatch() -> None:
    exc = rejection(DATA / "excel_sep.csv", CsvDialect(","))
    assert codes(exc) == [("delimiter-mismatch", 1)]
    assert "';'" in exc.problems[0].message and "','" in exc.problems[0].message


def test_header_in_another_delimiter_is_a_mismatch() -> None:
    exc = rejection(DATA / "delimiter_mismatch.csv", CsvDialect(","))
    assert codes(exc) == [("delimiter-mismatch", 1)]
    assert "seems to use ';'" in exc.problems[0].message


def test_values_are_kept_verbatim_as_text() -> None:
    table = read_csv(DATA / "verbatim.csv", CsvDialect())
    first, second, third = rows(table)
    assert first["employee_id"] == "000123"
    assert first["account"] == "12345678901234567890"
    assert first["phone"] == "+44 (0)20 7946 0958"
    assert first["manager"] == "007"
    assert first["formula"] == "=cmd|' /C calc'!A0"
    assert second["account"] == "1.50E+10" and second["phone"] == "+1-555-0100"
    assert second["formula"] == "@SUM(A1:A2)"
    assert third == {
        "employee_id": "000000",
        "account": "0",
        "phone": "-1",
        "manager": "+1",
        "formula": "=1+2",
        "empty_mid": "",
        "last": "",
    }
    assert all(str(t) == "str" for t in table.frame.dtypes)
    assert not table.frame.isna().any().any()


def test_header_only_is_an_empty_table_not_an_error() -> None:
    table = read_csv(DATA / "header_only.csv", CsvDialect())
    assert table.columns == ["employee_id", "email", "name"]
    assert len(table.frame) == 0 and list(table.frame.columns) == table.columns
    assert table.lines.dtype == np.int64 and table.rows_read == 0


# --- line numbers in the careful path ---------------------------------------------------------


def test_blank_lines_and_lone_cr_give_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b'id,name\r1,a\r\r2,"x\ry"\r3,c')
    table = read_csv(path, CsvDialect())
    assert table.frame["name"].tolist() == ["a", "x\ry", "c"]
    assert table.lines.tolist() == [2, 4, 6]


def test_record_larger_than_an_arrow_block_is_read_by_the_careful_path(tmp_path: Path) -> None:
    big = "y" * (17 << 20)
    path = tmp_path / "big.csv"
    path.write_text(f'id,blob\n1,"a\nb"\n2,{big}\n3,z\n', encoding="utf-8")
    table = read_csv(path, CsvDialect(), ReadLimits(max_field_chars=18 << 20))
    assert table.frame["id"].tolist() == ["1", "2", "3"]
    assert table.lines.tolist() == [2, 4, 5]
    assert table.frame["blob"].str.len().tolist() == [3, 17 << 20, 1]


# --- row problems -----------------------------------------------------------------------------


def test_ragged_rows_are_excluded_with_both_counts_and_never_shifted() -> None:
    table = read_csv(DATA / "ragged.csv", CsvDialect())
    assert table.frame["id"].tolist() == ["1", "3", "5"]
    assert table.lines.tolist() == [2, 5, 8]
    assert table.frame["note"].tolist() == ["two\nlines", "ok", "ok"]
    assert [(p.code, p.line) for p in table.problems] == [("ragged-row", 4), ("ragged-row", 6)]
    assert "2 fields" in table.problems[0].message and "header has 3" in table.problems[0].message
    assert "4 fields" in table.problems[1].message
    assert table.problems[1].value == "4,Dee,ok,extra"
    assert table.rows_read == 5


def test_problems_are_capped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a,b\n" + "1\n" * 5 + "1,2\n", encoding="utf-8")
    table = read_csv(path, CsvDialect(), ReadLimits(max_problems=2))
    assert [p.code for p in table.problems] == ["ragged-row", "ragged-row", "too-many-problems"]
    assert table.problems[-1].severity == "warning" and "3 more" in table.problems[-1].message
    assert table.rows_read == 6 and table.lines.tolist() == [7]


def test_control_characters_golden() -> None:
    table = read_csv(DATA / "control_chars.csv", CsvDialect())
    # Flagged rows stay in the frame so the pipeline knows whose row it rejects.
    assert table.frame["id"].tolist() == ["1", "2", "3", "4", "5", "6", "7"]
    assert table.lines.tolist() == [2, 3, 4, 5, 6, 7, 8]
    found = [
        (p.code, p.line, p.column, p.message.split(" contains ")[1][:6]) for p in table.problems
    ]
    assert found == [
        ("control-character", 3, "name", "U+0000"),
        ("control-character", 5, "note", "U+202E"),
        ("control-character", 6, "name", "U+200B"),
        ("control-character", 7, "note", "U+007F"),
    ]
    assert table.problems[0].value == "Bo\\u0000b"
    assert table.rows_read == 7


@pytest.mark.parametrize("ch", list(FORBIDDEN_CHARACTERS), ids=lambda c: f"U+{ord(c):04X}")
def test_each_forbidden_character_is_a_row_problem(tmp_path: Path, ch: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(f'id,name\n1,ok\n2,"a{ch}b"\n3,ok\n'.encode())
    table = read_csv(path, CsvDialect())
    assert table.frame["id"].tolist() == ["1", "2", "3"]  # flagged, not dropped
    [problem] = table.problems
    assert (problem.code, problem.line, problem.column) == ("control-character", 3, "name")
    assert f"U+{ord(ch):04X}" in problem.message


def test_tab_cr_lf_inside_values_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(b'id,name\n1,"a\tb\r\nc"\n')
    assert read_csv(path, CsvDialect()).frame["name"].tolist() == ["a\tb\r\nc"]


# --- whole-file problems ----------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_bytes(b"")
    assert codes(rejection(tmp_path / "e.csv")) == [("empty-file", None)]
    (tmp_path / "w.csv").write_bytes(b"\r\n\n")
    assert codes(rejection(tmp_path / "w.csv")) == [("empty-file", None)]


def test_file_too_large_is_refused_from_stat_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:
        f.truncate(3_000_000_000)  # sparse: reading it would take seconds and 3 GB
    exc = rejection(path)
    assert codes(exc) == [("file-too-large", None)]
    assert "3,000,000,000" in exc.problems[0].message
    assert codes(rejection(DATA / "verbatim.csv", max_file_bytes=100)) == [("file-too-large", None)]


@pytest.mark.parametrize(("name", "line"), [("truncated_quote.csv", 3), ("truncated_short.csv", 3)])
def test_truncated_files(name: str, line: int) -> None:
    exc = rejection(DATA / name)
    assert codes(exc) == [("truncated-file", line)]
    assert "cut off" in exc.problems[0].message


def test_short_last_record_with_final_newline_is_only_ragged(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(b"id,name,note\n1,a,b\n2,c\n")
    table = read_csv(path, CsvDialect())
    assert [(p.code, p.line) for p in table.problems] == [("ragged-row", 3)]


def test_bad_header_lists_every_problem() -> None:
    exc = rejection(DATA / "bad_header.csv")
    assert codes(exc) == [("empty-header", 1), ("duplicate-header", 1)]
    assert "column 3" in exc.problems[0].message and "(columns 2, 4)" in exc.problems[1].message


def test_invisible_character_in_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes("id,\u200bemail\n1,a\n".encode())
    assert codes(rejection(path)) == [("control-character", 1)]


def test_ten_megabyte_field_is_rejected_quickly_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    with open(path, "wb") as f:
        f.write(b"id,name,note\n1,a,b\n2,")
        f.write(b"x" * 10_000_000)
        f.write(b",c\n3,d,e\n")
    tracemalloc.start()
    try:
        exc = rejection(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert codes(exc) == [("field-too-large", 3)]
    assert exc.problems[0].column == "name" and "100,000" in exc.problems[0].message
    assert peak < 25_000_000  # Python-side: the file once, never a copy per step


def test_field_beyond_an_arrow_block_hits_the_limit_in_the_careful_path(tmp_path: Path) -> None:
    path = tmp_path / "longer.csv"
    path.write_bytes(b'id,name\n1,a\n2,"' + b"z\n" * (9 << 20) + b'"\n')
    exc = rejection(path)
    assert codes(exc) == [("field-too-large", 3)]


def test_field_size_limit_counts_characters_not_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,name\n1,éééééééééé\n", encoding="utf-8")  # 10 chars, 20 bytes
    assert read_csv(path, CsvDialect(), ReadLimits(max_field_chars=10)).frame["name"].iloc[0]
    assert codes(rejection(path, max_field_chars=9)) == [("field-too-large", 2)]


def test_problems_and_rejections_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "spool-0001.csv"
    path.write_bytes(b"id,name\n1\n")
    table = read_csv(path, CsvDialect(), name="employees.csv")
    assert table.file == "employees.csv" and table.problems[0].file == "employees.csv"
    os.truncate(path, 0)
    with pytest.raises(FileRejected) as info:
        read_csv(path, CsvDialect(), name="employees.csv")
    assert info.value.problems[0].file == "employees.csv"
    assert info.value.fields()["problems"][0]["code"] == "empty-file"
