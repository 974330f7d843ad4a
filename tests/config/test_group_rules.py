"""Group rules in a mapping: every mistake named by file, line and key."""

from __future__ import annotations

from pathlib import Path

from filebridge.config import load_mapping
from tests.config.conftest import Write
from tests.config.test_mapping import mapping_errors

HEAD = """
version: 1
format:
  type: csv
fields:
  employee_id: {column: Employee ID}
  email: {column: Work Email}
  department: {column: Department}
  country: {column: Country}
groups:
"""  # the first rule is on line 10


def test_good_rules_pass(write: Write, tmp_path: Path) -> None:
    body = """
  - name: Sales DACH
    when: {all: [{field: department, is: Sales}, {field: country, in: [DE, AT]}]}
  - name: Not Sales
    when: {not: {any: [{field: department, is: Sales}]}}
  - group_from: department
    name: "Dept {value}"
"""
    doc = load_mapping(write("mappings/acme.yaml", HEAD + body.lstrip("\n")), tmp_path)
    assert [r["name"] for r in doc.data["groups"]] == ["Sales DACH", "Not Sales", "Dept {value}"]


def test_bad_rules_name_file_line_and_key(write: Write, tmp_path: Path) -> None:
    body = """
  - name: Sales DACH
    when:
      all:
        - {field: departmnet, is: Sales}
        - {field: country, is: DE, in: [AT]}
  - name: Sales DACH
    when: {field: country, equals: DE}
  - group_from: department
    name: Sales
  - name: Team
    reports_to: E1
  - name: Nothing
  - when: {field: country, is: DE}
"""
    assert mapping_errors(write, tmp_path, body, HEAD) == [
        "mappings/acme.yaml:13: groups[0].when.all[0].field: 'departmnet' is not a field of "
        "this mapping (did you mean 'department'?); rules read mapped fields only",
        "mappings/acme.yaml:14: groups[0].when.all[1]: a condition takes exactly one of is, "
        "in, not, all, any (found is, in)",
        "mappings/acme.yaml:15: groups[1].name: group 'Sales DACH' is already named by "
        "groups[0]; one rule per group",
        "mappings/acme.yaml:16: groups[1].when: unknown key 'equals'",
        "mappings/acme.yaml:18: groups[2].name: with group_from the name must contain "
        "{value}, e.g. 'Department {value}'",
        "mappings/acme.yaml:20: groups[3].reports_to: reports_to follows the file's manager "
        "references: map manager_id or manager_email",
        "mappings/acme.yaml:21: groups[4]: a rule needs when, group_from or reports_to",
        "mappings/acme.yaml:22: groups[5]: a rule needs name: the group's name in the LMS",
    ]
