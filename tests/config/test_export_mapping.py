"""Export mappings: the schema, the checks beyond it, and `check` choosing the right schema."""

from __future__ import annotations

from pathlib import Path

from filebridge.config import check, load_export_mapping
from filebridge.mapping.export import export_mapping_from_dict

from .conftest import Write, errors_of

REPO = Path(__file__).resolve().parents[2]


def test_shipped_acme_export_mapping_is_valid() -> None:
    doc = load_export_mapping(REPO / "mappings" / "acme-export.yaml", REPO)
    mapping = export_mapping_from_dict(doc.path, doc.data)
    assert mapping.format.delimiter == ";" and mapping.overdue
    assert "Score" not in mapping.neutralized and "Course Title" in mapping.neutralized


def test_problems_name_file_line_and_key(write: Write) -> None:
    path = write("mappings/out.yaml", """
        kind: export
        version: 1
        format: {type: xml, line_ending: crlf}
        file_name: "out_{date:%Y%m%d}_{run}.xml"
        timezone: Mars/Olympus
        columns:
          - {header: Employee ID, field: person.employee_id}
          - {header: When, field: completed_at, date_format: "ymd"}
          - {header: Score, field: scor}
          - {header: Course, field: course.code, decimals: 2}
    """)
    assert errors_of(load_export_mapping, path, path.parent.parent) == [
        "mappings/out.yaml:4: file_name: file_name uses {run}; allowed placeholders are "
        "{connection}, {date}, {part}, {seq}",
        "mappings/out.yaml:5: timezone: unknown time zone 'Mars/Olympus'; write an IANA name "
        "such as 'Europe/Berlin'",
        "mappings/out.yaml:7: columns[0].header: 'Employee ID' is not a usable XML element name "
        "(letters, digits, '.', '-', '_'; no spaces)",
        "mappings/out.yaml:8: columns[1].date_format: date_format 'ymd' has no % directive",
        "mappings/out.yaml:9: columns[2].field: 'scor' is not one of ['person.employee_id', "
        "'person.email', 'person.first_name', 'person.last_name', 'person.department_code', "
        "'course.code', 'course.title', 'status', 'completed_at', 'score', "
        "'time_spent_minutes', 'attempt', 'recorded_at', 'due_at', 'record_type', "
        "'completion_id', 'revision'] (did you mean 'score'?)",
        "mappings/out.yaml:10: columns[3].decimals: decimals applies only to score",
    ]


def test_check_validates_export_mappings_with_their_own_schema(write: Write) -> None:
    settings = write("settings.yaml", """
        state_dir: var
        lms: {url: "sqlite:///{state_dir}/lms.sqlite"}
        connections:
          acme:
            export_mapping: mappings/out.yaml
            transport: {type: local, inbox: drop, pattern: "*.csv", outbox: out}
    """)
    write("mappings/out.yaml", """
        kind: export
        version: 1
        format: {type: csv}
        file_name: "out_{seq}.csv"
        columns: [{header: Employee ID, field: person.employee_id}]
    """)
    write("mappings/loose.yaml", """
        kind: export
        version: 1
        format: {type: pipe}
        file_name: "no_sequence.txt"
        columns: [{header: A, value: x}]
    """)
    assert [p.render() for p in check(settings)] == [
        "mappings/loose.yaml:4: file_name: file_name must contain {seq} so that no two export "
        "files share a name"]
