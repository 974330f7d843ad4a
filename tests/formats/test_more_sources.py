"""Golden files for the sources beyond CSV and XML: archives, XLSX workbooks, JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.formats import FileRejected, ReadLimits, Table
from filebridge.formats.json_reader import JsonLayout
from filebridge.formats.source import SourceLayout, read_source
from filebridge.formats.xlsx_reader import SheetLayout
from filebridge.formats.xml_reader import XmlLayout

DATA = Path(__file__).parent.parent / "data" / "formats"
CSV = SourceLayout()
SMALL = ReadLimits(max_file_bytes=10 << 20)


def records(table: Table) -> list[dict[str, str]]:
    return table.frame.to_dict("records")


def refusal(name: str, layout: SourceLayout = CSV, limits: ReadLimits = SMALL) -> tuple[str, str]:
    with pytest.raises(FileRejected) as info:
        read_source(DATA / name, layout, limits)
    [problem] = info.value.problems
    return problem.code, problem.message


# --- archives ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "inner"), [("employees.zip", "export/employees.csv"),
                                             ("employees.csv.gz", "employees.csv")])
def test_one_data_file_inside_zip_or_gzip_is_read(name: str, inner: str) -> None:
    table = read_source(DATA / name, CSV)
    assert records(table) == [{"Employee ID": "000123", "Name": "Zoë"}]
    assert table.file == f"{name}!{inner}" and table.lines.tolist() == [2]
    assert table.source is not None and table.source().startswith(b"Employee ID")


@pytest.mark.parametrize(("name", "code", "words"), [
    ("two_files.zip", "archive-several-files", "exactly one data file"),
    ("nested.zip", "archive-nested", "itself an archive"),
    ("nested.csv.gz", "archive-nested", "itself an archive"),
    ("traversal.zip", "archive-unsafe-name", "points outside"),
    ("symlink.zip", "archive-symlink", "symbolic link"),
    ("bomb.zip", "file-too-large", "unpacks to more than"),
    ("bomb.csv.gz", "file-too-large", "unpacks to more than"),
])
def test_hostile_archives_are_refused(name: str, code: str, words: str) -> None:
    found, message = refusal(name)
    assert found == code and words in message


@pytest.mark.parametrize("name", ["bomb.zip", "bomb.csv.gz"])
def test_a_bomb_under_the_size_limit_is_refused_by_its_ratio(name: str) -> None:
    assert refusal(name, limits=ReadLimits())[0] == "archive-bomb"


def test_truncated_gzip_and_corrupt_zip(tmp_path: Path) -> None:
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes((DATA / "employees.csv.gz").read_bytes()[:-12])
    with pytest.raises(FileRejected) as info:
        read_source(cut, CSV)
    assert info.value.problems[0].code in ("archive-truncated", "archive-corrupt")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(FileRejected) as info:
        read_source(bad, CSV)
    assert info.value.problems[0].code == "archive-corrupt"


def test_xml_inside_a_zip(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "hr.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.write(DATA / "employees_ns.xml", "employees.xml")
    layout = SourceLayout("xml", xml=XmlLayout("hr:Employees/hr:Employee", ("@id",),
                                               {"hr": "urn:acme:hr:v2"}))
    assert read_source(path, layout).frame["@id"].tolist()[0] == "000123"


# --- XLSX --------------------------------------------------------------------------------


def test_xlsx_named_sheet_with_dates_numbers_and_blank_rows() -> None:
    table = read_source(DATA / "employees.xlsx", SourceLayout("xlsx",
                                                              sheet=SheetLayout("Employees")))
    assert table.columns == ["Employee ID", "Name", "Hire Date", "Start Serial", "Text Date",
                             "Salary", "Phone"]
    assert records(table) == [
        {"Employee ID": "000123", "Name": "Zoë", "Hire Date": "2020-03-01",
         "Start Serial": "45000", "Text Date": "01/03/2020", "Salary": "1234.5",
         "Phone": "+49 1"},
        {"Employee ID": "124", "Name": "Bo", "Hire Date": "2021-04-02 08:30:00",
         "Start Serial": "45001.5", "Text Date": "02/04/2021", "Salary": "1000", "Phone": ""},
        {"Employee ID": "125", "Name": "Cy", "Hire Date": "2022-01-01", "Start Serial": "1",
         "Text Date": "x", "Salary": "true", "Phone": "+1 555"}]
    assert table.lines.tolist() == [3, 4, 6]  # Excel's own row numbers
    assert table.problems == []


def test_xlsx_first_sheet_and_missing_sheet() -> None:
    table = read_source(DATA / "employees.xlsx", SourceLayout("xlsx"))
    assert table.columns == ["Exported by HR"] and table.rows_read == 0
    code, message = refusal("employees.xlsx", SourceLayout("xlsx", sheet=SheetLayout("Staff")))
    assert code == "xlsx-no-sheet" and "'Cover', 'Employees'" in message


def test_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"Employee ID,Name\n1,a\n")
    with pytest.raises(FileRejected) as info:
        read_source(path, SourceLayout("xlsx"))
    assert info.value.problems[0].code == "xlsx-unreadable"


# --- JSON --------------------------------------------------------------------------------

FIELDS = ("id", "name.first", "name.last", "emails[0].address", "fte", "manager", "active")


def test_json_array_at_a_record_path() -> None:
    table = read_source(DATA / "employees.json",
                        SourceLayout("json", json=JsonLayout("data.employees", FIELDS)))
    assert [list(r.values()) for r in records(table)] == [
        ["000123", "Zoë", "Lefèvre", "zoe@acme.example", "1.50", "", "true"],
        ["000124", "Bo", "Berg", "", "1", "", "false"]]
    assert table.lines.tolist() == [5, 8]
    [problem] = table.problems
    assert (problem.code, problem.line, problem.column) == ("json-not-a-value", 10, "name.last")
    assert table.rows_read == 3


def test_json_lines() -> None:
    table = read_source(DATA / "employees.jsonl",
                        SourceLayout("json", json=JsonLayout("", ("id", "name.first"), True)))
    assert records(table) == [{"id": "1", "name.first": "Anna"}, {"id": "2", "name.first": "Bo"}]
    assert table.lines.tolist() == [1, 3]
    assert [(p.code, p.line) for p in table.problems] == [("json-not-an-object", 4)]


@pytest.mark.parametrize(("text", "path", "code", "line"), [
    ('{"data": {"rows": []}}', "data.employees", "json-no-records", 1),
    ('{"data": {"employees": {"a": 1}}}', "data.employees", "json-no-records", 1),
    ('[{"id": "1"},\n {"id": "2"\n]', "", "json-malformed", 3),
    ('[{"id": "1"} {"id": "2"}]', "", "json-malformed", 1),
    ("[" * 100_000 + "]" * 100_000, "", "json-too-deep", 1),
])
def test_broken_json(tmp_path: Path, text: str, path: str, code: str, line: int) -> None:
    file = tmp_path / "x.json"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(FileRejected) as info:
        read_source(file, SourceLayout("json", json=JsonLayout(path, ("id",))))
    assert (info.value.problems[0].code, info.value.problems[0].line) == (code, line)
