"""Mapping documents: schema errors in words, and the checks the schema cannot make."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.config import load_mapping
from tests.config.conftest import Write, errors_of

HEAD = """
version: 1
format:
  type: csv
fields:
  employee_id: {column: Employee ID}
  email: {column: Work Email}
"""  # fields continue at line 7
NO_EMAIL = ("email is missing: filebridge finds returning people and address clashes in the "
            "LMS by work e-mail, so every import mapping needs it; map the file's e-mail "
            "column, e.g. email: {column: Work Email}")


def mapping_errors(write: Write, tmp_path: Path, body: str, head: str = HEAD) -> list[str]:
    path = write("mappings/acme.yaml", head + body.lstrip("\n"))
    return errors_of(load_mapping, path, tmp_path)


def test_typo_in_a_transform(write: Write, tmp_path: Path) -> None:
    body = """
  manager_email:
    column: Manager Email
    transform: [trim, lowr]
"""
    assert mapping_errors(write, tmp_path, body) == [
        "mappings/acme.yaml:9: fields.manager_email.transform[1]: 'lowr' is not one of "
        "['trim', 'lower', 'upper', 'collapse_spaces'] (did you mean 'lower'?)"
    ]


def test_unknown_keys_suggest_the_closest_name(write: Write, tmp_path: Path) -> None:
    body = """
  emial:
    colum: Work Email
  cost_center:
    column: Cost Center
"""
    assert mapping_errors(write, tmp_path, body) == [
        "mappings/acme.yaml:7: fields: unknown key 'emial' (did you mean 'email'?)",
        "mappings/acme.yaml:9: fields: unknown key 'cost_center' "
        "(extra attributes are written 'custom.cost_center')",
    ]


def test_missing_required_key_and_wrong_type(write: Write, tmp_path: Path) -> None:
    head = """
version: 1
format:
  type: xml
  quotechar: 5
fields:
  employee_id:
    path: "@id"
    required: "yes"
"""
    assert mapping_errors(write, tmp_path, "", head) == [
        "mappings/acme.yaml:2: format: missing required key 'record_path'",
        "mappings/acme.yaml:4: format.quotechar: expected a string, got the number 5 "
        "(put the value in quotes)",
        f"mappings/acme.yaml:5: fields: {NO_EMAIL}",
        "mappings/acme.yaml:8: fields.employee_id.required: expected true or false, "
        "got the text 'yes'",
    ]


def test_several_errors_are_all_reported_sorted_by_line(write: Write, tmp_path: Path) -> None:
    head = """
version: 2
fields:
  employee_id:
    column: Employee ID
    empty: never
  country:
    allowed: [DE, NO]
  unknown_columns: warn
"""
    assert mapping_errors(write, tmp_path, "", head) == [
        "mappings/acme.yaml:1: missing required key 'format'",
        "mappings/acme.yaml:1: version: must be 1, got 2",
        f"mappings/acme.yaml:2: fields: {NO_EMAIL}",
        "mappings/acme.yaml:5: fields.employee_id.empty: 'never' is not one of ['keep', 'clear']",
        "mappings/acme.yaml:6: fields.country: needs one of column, path, template or value",
        "mappings/acme.yaml:7: fields.country.allowed[1]: expected a string, got the boolean "
        "false (put the value in quotes; YAML reads yes/no/on/off/true/false as booleans)",
        "mappings/acme.yaml:8: fields: unknown key 'unknown_columns' "
        "(a top-level key: check the indentation)",
    ]


def test_template_must_name_fields_of_the_mapping(write: Write, tmp_path: Path) -> None:
    body = """
  first_name: {column: First}
  last_name: {column: Last}
  custom.display_name:
    template: "{frist_name} {last_name}"
"""
    assert mapping_errors(write, tmp_path, body) == [
        "mappings/acme.yaml:10: fields.custom.display_name.template: template refers to "
        "{frist_name}, which is not a field of this mapping (did you mean 'first_name'?)"
    ]


def test_bad_regex_and_bad_replacement(write: Write, tmp_path: Path) -> None:
    body = """
  phone:
    column: Phone
    transform:
      - regex_replace: {pattern: "[ ()-", replacement: ""}
      - regex_replace:
          pattern: "(\\\\d+)"
          replacement: "\\\\2"
"""
    assert mapping_errors(write, tmp_path, body) == [
        "mappings/acme.yaml:10: fields.phone.transform[0].regex_replace.pattern: not a valid "
        "regular expression: unterminated character set at position 0",
        "mappings/acme.yaml:13: fields.phone.transform[1].regex_replace.replacement: not a valid "
        "replacement for this pattern: invalid group reference 2 at position 1",
    ]


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("dd/mm/yyyy", "date_format 'dd/mm/yyyy' has no % directive; write e.g. '%d/%m/%Y'"),
        (
            "%Y-%m",
            "date_format '%Y-%m' does not pin down a whole date: 2026-01-31 is written "
            "'2026-01' and read back as 2026-01-01",
        ),
    ],
)
def test_date_formats_must_round_trip(write: Write, tmp_path: Path, fmt: str, message: str) -> None:
    body = f"""
  hire_date:
    column: Hire Date
    date_format: ["%d/%m/%Y", "{fmt}"]
"""
    assert mapping_errors(write, tmp_path, body) == [
        f"mappings/acme.yaml:9: fields.hire_date.date_format[1]: {message}"
    ]


def test_sources_must_fit_the_format(write: Write, tmp_path: Path) -> None:
    body = """
  manager_email:
    path: Email
  language:
    value: en
    column: Language
"""
    assert mapping_errors(write, tmp_path, body) == [
        "mappings/acme.yaml:8: fields.manager_email.path: path is for XML and JSON files; this "
        "mapping reads CSV, use column",
        "mappings/acme.yaml:10: fields.language.value: has both column and value; give "
        "exactly one of column, path, template, value",
    ]


def test_xml_paths_need_declared_namespace_prefixes(write: Write, tmp_path: Path) -> None:
    head = """
version: 1
format:
  type: xml
  record_path: /hr:Export/hr:Employee
  namespaces: {hr: "urn:example:hr"}
fields:
  employee_id:
    path: "@id"
  email:
    path: x:Email
  first_name:
    column: First
"""
    assert mapping_errors(write, tmp_path, "", head) == [
        "mappings/acme.yaml:10: fields.email.path: namespace prefix 'x' is not declared in "
        "format.namespaces",
        "mappings/acme.yaml:12: fields.first_name.column: column is for CSV and XLSX files; "
        "this mapping reads XML, use path",
    ]


def test_map_default_and_allowed_must_agree(write: Write, tmp_path: Path) -> None:
    body = """
  status:
    column: Status
    map: {A: active, T: terminated}
    default: X
  employee_type:
    column: Type
    map_default: other
"""
    assert mapping_errors(write, tmp_path, body) == [
        "mappings/acme.yaml:9: fields.status.map.T: gives 'terminated', which is not one of "
        "['active', 'inactive']",
        "mappings/acme.yaml:10: fields.status.default: default 'X' is not a key of map, so "
        "blank cells would be rejected",
        "mappings/acme.yaml:13: fields.employee_type.map_default: map_default only works with map",
    ]


def test_a_valid_mapping_loads_with_lines(write: Write, tmp_path: Path) -> None:
    body = """
  custom.display_name:
    template: "{employee_id}"
"""
    doc = load_mapping(write("mappings/acme.yaml", HEAD + body.lstrip("\n")), tmp_path)
    assert doc.name == "mappings/acme.yaml"
    assert doc.data["fields"]["custom.display_name"] == {"template": "{employee_id}"}
    assert doc.line_of(("fields", "custom.display_name", "template")) == 8


def test_a_mapping_without_email_says_what_is_missing(write: Write, tmp_path: Path) -> None:
    head = """
version: 1
format: {type: csv}
fields:
  employee_id: {column: Employee ID}
  first_name: {column: First Name}
"""
    assert mapping_errors(write, tmp_path, "", head) == [
        f"mappings/acme.yaml:3: fields: {NO_EMAIL}"]


def test_xml_predicates_are_checked_for_syntax_and_prefixes(write: Write, tmp_path: Path) -> None:
    head = """
version: 1
format:
  type: xml
  record_path: /hr:Export/hr:Employee
  namespaces: {hr: "urn:example:hr"}
fields:
  employee_id:
    path: "@id"
  email:
    path: "hr:Email[@hr:type='Work: main']"
  phone:
    path: "hr:Phone[x:Kind='Work']"
  first_name:
    path: "hr:Name[type=First]"
"""
    assert mapping_errors(write, tmp_path, "", head) == [
        "mappings/acme.yaml:12: fields.phone.path: namespace prefix 'x' is not declared in "
        "format.namespaces",
        "mappings/acme.yaml:14: fields.first_name.path: cannot read the predicate "
        "'[type=First]' in step 'hr:Name[type=First]'; write [@attribute='value'], "
        "[child='value'], [@attribute] or [n]",
    ]
