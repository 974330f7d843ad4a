"""Golden files laid out as HR systems and spreadsheets really send them."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.formats import CsvDialect, FileRejected, Table, read_csv

DATA = Path(__file__).parent.parent / "data" / "formats"


def rows(table: Table) -> list[dict[str, str]]:
    return table.frame.to_dict("records")


COMMA = CsvDialect()


def rejection(path: Path, dialect: CsvDialect = COMMA) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        read_csv(path, dialect)
    return info.value


# --- Excel-saved CSV ---------------------------------------------------------------------


def test_excel_trailing_empty_headers_and_blank_rows() -> None:
    table = read_csv(DATA / "excel_trailing.csv", CsvDialect())
    assert table.columns == ["Employee ID", "First Name", "Location"]
    assert rows(table) == [{"Employee ID": "000123", "First Name": "Anna", "Location": "Berlin"},
                           {"Employee ID": "000124", "First Name": "Zoë", "Location": "Paris"}]
    assert table.lines.tolist() == [2, 4]
    assert table.rows_read == 2  # comma-only rows are not rows
    assert [(p.code, p.line, p.severity) for p in table.problems] == [
        ("empty-header", 1, "warning")] * 3
    assert "column 4 of the header has no name and no values" in table.problems[0].message


def test_unnamed_column_with_values_is_refused_naming_the_first_value() -> None:
    exc = rejection(DATA / "unnamed_with_values.csv")
    [problem] = exc.problems
    assert (problem.code, problem.line, problem.value) == ("empty-header", 1, "x")
    assert "column 3" in problem.message and "line 2" in problem.message


def test_blank_rows_on_the_careful_path_keep_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    # A short comma-only row (ragged) and a lone CR force Python's csv to find the lines.
    path.write_bytes(b'id,name,city\n1,"a\rb",c\n,,\n,,,\n2,d,e\n,,\n')
    table = read_csv(path, CsvDialect())
    assert table.frame["id"].tolist() == ["1", "2"]
    assert table.lines.tolist() == [2, 6]
    assert table.problems == [] and table.rows_read == 2


# --- joined exports ----------------------------------------------------------------------


def test_repeated_header_in_another_order_refuses_the_file() -> None:
    exc = rejection(DATA / "joined_swapped.csv")
    assert [(p.code, p.line) for p in exc.problems] == [("repeated-header", 4)]
    assert "line 4 repeats the header" in exc.problems[0].message


def test_repeated_wider_header_refuses_the_file_after_a_quoted_newline() -> None:
    exc = rejection(DATA / "joined_wider.csv")
    assert [(p.code, p.line) for p in exc.problems] == [("repeated-header", 5)]


def test_a_value_equal_to_a_header_name_is_not_a_header(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id,name\nname,id\nname,Bo\n")  # one row is exactly the names: refused
    assert rejection(path).problems[0].line == 2
    path.write_bytes(b"id,name\nname,Bo\nid,Cy\n")
    assert read_csv(path, CsvDialect()).frame["name"].tolist() == ["Bo", "Cy"]


# --- encoding drift ----------------------------------------------------------------------


def test_utf8_file_declared_cp1252_is_refused_naming_utf8() -> None:
    exc = rejection(DATA / "utf8_declared_cp1252.csv", CsvDialect(";", encoding="cp1252"))
    [problem] = exc.problems
    assert (problem.code, problem.line) == ("encoding-mismatch", 2)
    assert "the file is UTF-8" in problem.message and "format.encoding" in problem.message
    assert "'1;Zoë;Málaga'" in problem.message  # what it reads as UTF-8 …
    assert "ZoÃ«" in problem.message  # … and the mojibake it would have become


def test_real_cp1252_still_reads_and_utf8_declared_names_cp1252() -> None:
    table = read_csv(DATA / "cp1252.csv", CsvDialect(";", encoding="cp1252"))
    assert table.frame["first_name"].tolist() == ["Zoë", "José", "Åsa"]
    exc = rejection(DATA / "cp1252.csv", CsvDialect(";"))
    assert exc.problems[0].code == "undecodable-byte"
    assert "read as cp1252" in exc.problems[0].message


def test_latin1_declared_utf8_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("id,name\n1,Anna\n2,Łukasz\n".encode())
    exc = rejection(path, CsvDialect(encoding="latin-1"))
    assert [(p.code, p.line) for p in exc.problems] == [("encoding-mismatch", 3)]


# --- no quoting, record terminators ------------------------------------------------------


def test_quoting_none_keeps_quote_characters_as_text() -> None:
    table = read_csv(DATA / "pipe_unquoted.txt", CsvDialect("|", quoting="none"))
    assert table.frame["title"].tolist() == ['"Senior" Analyst', 'Lead "Ops', '"']
    assert table.frame["name"].tolist() == ["Anna", "Bo", '"Cy"']
    assert table.lines.tolist() == [2, 3, 4]


def test_quoting_minimal_is_what_changed_the_value() -> None:
    table = read_csv(DATA / "pipe_unquoted.txt", CsvDialect("|"))
    assert table.frame["title"].iloc[0] != '"Senior" Analyst'


def test_record_terminator_joins_lines_and_strips_the_marker() -> None:
    dialect = CsvDialect("|", quoting="none", record_terminator="~")
    table = read_csv(DATA / "marked_records.txt", dialect)
    assert table.columns == ["id", "name", "note"]
    assert rows(table) == [{"id": "1", "name": "Anna", "note": "two\r\nlines"},
                           {"id": "2", "name": "Bo", "note": "one"},
                           {"id": "3", "name": "Cy", "note": '"q"'}]
    assert table.lines.tolist() == [2, 4, 6]


def test_record_terminator_missing_at_the_end_is_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"id|name~\n1|Anna~\n2|Bo\n")
    exc = rejection(path, CsvDialect("|", quoting="none", record_terminator="~"))
    assert [(p.code, p.line) for p in exc.problems] == [("truncated-file", 3)]


def test_record_terminator_needs_quoting_none() -> None:
    with pytest.raises(ValueError, match="quoting 'none'"):
        CsvDialect("|", record_terminator="~")


# --- layouts that are not tables ---------------------------------------------------------


@pytest.mark.parametrize(("name", "line"), [("hdl_worker.dat", 2), ("hdl_after_header.dat", 2)])
def test_oracle_hdl_files_are_refused_saying_what_they_are(name: str, line: int) -> None:
    exc = rejection(DATA / name, CsvDialect("|"))
    [problem] = exc.problems
    assert (problem.code, problem.line) == ("hdl-file", line)
    assert "Oracle HCM Data Loader" in problem.message
    assert rejection(DATA / name).problems[0].code == "hdl-file"  # whatever the delimiter
