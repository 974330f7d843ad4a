"""Golden-file tests of read_xml: namespaces, attributes, nesting, lines, hostile XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.formats import FileRejected, ReadLimits, XmlLayout, read_xml

DATA = Path(__file__).parent.parent / "data" / "formats"
NS = {"hr": "urn:acme:hr:v2", "org": "urn:acme:org"}
FIELDS = (
    "@id",
    "hr:Name/hr:First",
    "hr:Name/hr:Last",
    "hr:Email",
    "org:Unit",
    "org:Unit/@org:code",
    "@status",
)
LAYOUT = XmlLayout("hr:Employees/hr:Employee", FIELDS, NS)


def rejection(path: Path, layout: XmlLayout = LAYOUT, **limits: int) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        read_xml(path, layout, ReadLimits(**limits))
    return info.value


def test_records_with_namespaces_attributes_and_nesting() -> None:
    table = read_xml(DATA / "employees_ns.xml", LAYOUT)
    assert table.columns == list(FIELDS) and list(table.frame.columns) == list(FIELDS)
    first, second, third = table.frame.to_dict("records")
    assert first == {
        "@id": "000123",
        "hr:Name/hr:First": "Zoë",
        "hr:Name/hr:Last": "Lefèvre",
        "hr:Email": "zoe@acme.example",
        "org:Unit": "Human Resources",
        "org:Unit/@org:code": "HR-01",
        "@status": "active",
    }
    assert second["hr:Name/hr:First"] == "José" and second["org:Unit/@org:code"] == "IT-7"
    assert third["hr:Name/hr:Last"] == "O'Brien & Sons"
    assert third["hr:Name/hr:First"] == "=cmd|' /C calc'!A0"  # text, never evaluated
    assert third["hr:Email"] == "  spaced@acme.example "  # verbatim; trimming is the mapping's


def test_missing_fields_are_empty_strings() -> None:
    table = read_xml(DATA / "employees_ns.xml", LAYOUT)
    second, third = table.frame.iloc[1], table.frame.iloc[2]
    assert second["hr:Name/hr:Last"] == "" and second["hr:Email"] == ""
    assert second["org:Unit"] == ""  # <org:Unit org:code="IT-7"/> has no text
    assert third["@status"] == "" and third["org:Unit/@org:code"] == ""
    assert not table.frame.isna().any().any()


def test_lines_are_those_of_the_record_start_tags() -> None:
    table = read_xml(DATA / "employees_ns.xml", LAYOUT)
    assert table.lines.tolist() == [3, 8, 14]  # the third start tag spans lines 14-15
    assert table.rows_read == 3 and table.problems == []


def test_anywhere_path() -> None:
    table = read_xml(DATA / "employees_ns.xml", XmlLayout("//hr:Employee", ("@id",), NS))
    assert table.frame["@id"].tolist() == ["000123", "000124", "000125"]


def test_default_namespace_applies_to_unprefixed_elements(tmp_path: Path) -> None:
    path = tmp_path / "d.xml"
    path.write_text(
        '<Root xmlns="urn:d"><Person id="7" x:k="v" xmlns:x="urn:x">'
        "<Name>Ann</Name></Person></Root>",
        encoding="utf-8",
    )
    layout = XmlLayout("Root/Person", ("@id", "Name", "@x:k"), {"": "urn:d", "x": "urn:x"})
    assert read_xml(path, layout).frame.iloc[0].tolist() == ["7", "Ann", "v"]


def test_empty_container_is_an_empty_table() -> None:
    table = read_xml(DATA / "employees_empty.xml", LAYOUT)
    assert len(table.frame) == 0 and table.columns == list(FIELDS) and table.rows_read == 0


def test_wrong_namespace_names_expected_and_found() -> None:
    [problem] = rejection(DATA / "employees_wrong_ns.xml").problems
    assert problem.code == "xml-no-records"
    assert "urn:acme:hr:v2" in problem.message  # expected
    assert "{urn:acme:hr:v1}Employees" in problem.message  # found
    assert "line 3" in problem.message  # where a same-named record element is


def test_wrong_record_path_names_the_root() -> None:
    layout = XmlLayout("hr:Staff/hr:Person", ("@id",), NS)
    [problem] = rejection(DATA / "employees_ns.xml", layout).problems
    assert problem.code == "xml-no-records"
    assert "hr:Staff/hr:Person" in problem.message
    assert "root element is {urn:acme:hr:v2}Employees" in problem.message


@pytest.mark.parametrize("name", ["dtd.xml", "billion_laughs.xml", "xxe.xml", "external_dtd.xml"])
def test_dtds_and_entities_are_forbidden(name: str) -> None:
    exc = rejection(DATA / name, XmlLayout("Employees/Employee", ("@id", "Name")))
    assert [(p.code, p.line) for p in exc.problems] == [("xml-forbidden", 2)]


def test_external_entity_never_reads_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE E [<!ENTITY s SYSTEM "file://{secret}">]>'
        "<E><R><N>&s;</N></R></E>",
        encoding="utf-8",
    )
    exc = rejection(path, XmlLayout("E/R", ("N",)))
    assert exc.problems[0].code == "xml-forbidden"
    assert "TOP-SECRET" not in str(exc)


def test_undeclared_entity_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "u.xml"
    path.write_text("<E>\n<R><N>&xxe;</N></R></E>", encoding="utf-8")
    assert [(p.code, p.line) for p in rejection(path, XmlLayout("E/R", ("N",))).problems] == [
        ("xml-malformed", 2)
    ]


def test_malformed_xml_gives_the_line() -> None:
    exc = rejection(DATA / "malformed.xml", XmlLayout("Employees/Employee", ("@id",)))
    assert [(p.code, p.line) for p in exc.problems] == [("xml-malformed", 3)]
    assert "mismatched tag" in exc.problems[0].message


def test_empty_and_too_large_files(tmp_path: Path) -> None:
    (tmp_path / "e.xml").write_bytes(b"")
    assert rejection(tmp_path / "e.xml").problems[0].code == "empty-file"
    assert (
        rejection(DATA / "employees_ns.xml", max_file_bytes=50).problems[0].code == "file-too-large"
    )


def test_field_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_text("<E>\n<R><N>" + "x" * 2_000_000 + "</N></R></E>", encoding="utf-8")
    exc = rejection(path, XmlLayout("E/R", ("N",)))
    assert [(p.code, p.line) for p in exc.problems] == [("field-too-large", 2)]


def test_attribute_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_text('<E>\n<R id="' + "1" * 200 + '"/></E>', encoding="utf-8")
    exc = rejection(path, XmlLayout("E/R", ("@id",)), max_field_chars=100)
    assert [(p.code, p.line) for p in exc.problems] == [("field-too-large", 2)]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.xml"
    path.write_text("<a>" * 300 + "</a>" * 300, encoding="utf-8")
    assert rejection(path, XmlLayout("a/b", ("c",))).problems[0].code == "xml-too-deep"


def test_control_characters_in_values_are_row_problems(tmp_path: Path) -> None:
    path = tmp_path / "c.xml"
    path.write_text(
        '<E>\n<R id="1"><N>Ann</N></R>\n<R id="2"><N>Bo\u202eb</N></R>\n'
        '<R id="3"><N>Cy</N></R></E>',
        encoding="utf-8",
    )
    table = read_xml(path, XmlLayout("E/R", ("@id", "N")))
    assert table.frame["@id"].tolist() == ["1", "2", "3"] and table.lines.tolist() == [2, 3, 4]
    assert [(p.code, p.line, p.column) for p in table.problems] == [("control-character", 3, "N")]
    assert table.rows_read == 3


def test_unknown_prefix_in_layout_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix 'zz'"):
        read_xml(DATA / "employees_ns.xml", XmlLayout("zz:Employees/zz:Employee", ("@id",)))


def test_predicates_pick_one_of_repeated_elements() -> None:
    fields = ("hr:Email", "hr:Email[@hr:type='Work']", "hr:Email[@primary]", "hr:Email[2]",
              "hr:Phone[hr:Kind='Work']/hr:Number", 'hr:Phone[hr:Kind="Fax"]/hr:Number')
    layout = XmlLayout("hr:Persons/hr:Person", fields, {"hr": "urn:acme:hr:v2"})
    first, second = read_xml(DATA / "hrxml_repeated.xml", layout).frame.to_dict("records")
    assert list(first.values()) == ["anna@home.example", "anna@acme.example",
                                    "anna@acme.example", "anna@acme.example", "+49 2", ""]
    assert list(second.values()) == ["bo/x@acme.example", "bo/x@acme.example", "", "", "", ""]


def test_unreadable_predicate_is_a_layout_error() -> None:
    layout = XmlLayout("hr:Persons/hr:Person", ("hr:Email[type=Work]",), {"hr": "urn:acme:hr:v2"})
    with pytest.raises(ValueError, match="cannot read the predicate"):
        read_xml(DATA / "hrxml_repeated.xml", layout)
