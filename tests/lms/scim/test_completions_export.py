"""Completions of a SCIM connection, end to end through the command line against the
real SCIM server: people imported into SCIM, a completions file loaded for them, the
export delivered row by row; people the connection does not manage are never exported,
leavers' results are (as for the built-in store), a correction goes out as an amendment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from filebridge.cli.main import main
from tests.lms.scim.test_e2e import scim_workspace
from tests.pipeline.conftest import NIGHT1, NIGHT2, XML1
from tests.pipeline.export_fixtures import export_workspace
from tests.scimserver import ScimServer

MAPPING = """
kind: export
version: 1
format: {type: csv, encoding: utf-8, delimiter: ",", line_ending: lf}
file_name: "results_{seq:04d}.csv"
timezone: UTC
columns:
  - {header: Employee ID, field: person.employee_id}
  - {header: Email, field: person.email}
  - {header: Last Name, field: person.last_name}
  - {header: Dept, field: person.department_code}
  - {header: Course, field: course.code}
  - {header: Title, field: course.title}
  - {header: Status, field: status}
  - {header: Completed, field: completed_at, date_format: "%Y-%m-%d %H:%M"}
  - {header: Score, field: score, neutralize: false}
  - {header: Type, field: record_type}
"""
HEADER = "employee_id,course_code,course_title,status,completed_at,score,due_date\n"
# For acme (SCIM): three managed people, one of them leaves the next night; one person
# nobody manages; an assignment, which only the built-in store keeps.
ACME = (HEADER
        + "001001,SEC-101,Security Awareness,passed,2026-11-20T09:30:00Z,92.5,\n"
        + "001002,GDPR-1,Data Protection,completed,2026-11-21T23:30:00+01:00,,\n"
        + "001030,SEC-101,Security Awareness,failed,2026-11-22T10:00:00Z,40,\n"
        + "999999,SEC-101,Security Awareness,passed,2026-11-22T10:00:00Z,,\n"
        + "001005,FIRE-2,Fire Safety,assigned,,,2026-12-31\n")
GOLDEN = [
    "Employee ID,Email,Last Name,Dept,Course,Title,Status,Completed,Score,Type",
    "001001,tomas.nowak1@acme.example,Nowak,RD,SEC-101,Security Awareness,passed,"
    "2026-11-20 09:30,92.5,new",
    "001002,priya.silva2@acme.example,Silva,SAL,GDPR-1,Data Protection,completed,"
    "2026-11-21 22:30,,new",
    "001030,noah.nguyen30@acme.example,Nguyen,ENG,SEC-101,Security Awareness,failed,"
    "2026-11-22 10:00,40,new",
]


def cli(settings: Path, *args: str, capsys: Any) -> tuple[int, dict[str, Any]]:
    code = main([*args, "--settings", str(settings), "--json"])
    out = capsys.readouterr()
    assert out.out.strip(), out.err
    return code, json.loads(out.out)


def lines_of(settings: Path, report: dict[str, Any]) -> list[str]:
    """The delivered files' lines, in order."""
    out: list[str] = []
    for f in report["files"]:
        path = settings.parent / "outbox" / f["name"]
        out += path.read_text(encoding="utf-8").splitlines()
    return out


def test_loaded_completions_reach_the_export_of_a_scim_connection(
        tmp_path: Path, scim_server: ScimServer, capsys: Any) -> None:
    url = scim_server.tenant()
    root = tmp_path / "ws"
    settings = scim_workspace(root, url, settings=export_workspace(root, MAPPING))
    assert cli(settings, "apply", "acme", str(NIGHT1), capsys=capsys)[1]["state"] == "applied"
    # The same employee ids in a built-in connection: never acme's people.
    assert cli(settings, "apply", "acme-xml", str(XML1), capsys=capsys)[1]["state"] \
        == "applied"
    people = {u["externalId"]: u for u in scim_server.users(url)}
    assert {"001001", "001002", "001030"} <= set(people)

    results = root / "acme_results.csv"
    results.write_text(ACME, encoding="utf-8")
    code, loaded = cli(settings, "lms", "load-completions", str(results), "--connection",
                       "acme", capsys=capsys)
    assert code == 1
    assert loaded["counts"]["inserted"] == 3
    assert [(p["line"], p["column"], p["code"]) for p in loaded["problems"]] == [
        (5, "employee_id", "unknown-person"), (6, "status", "not-allowed")]
    # Without --connection, an id both connections have is ambiguous, not guessed.
    other = root / "other.csv"
    other.write_text(HEADER + "001003,XL-200,Excel,passed,2026-11-20T10:00:00Z,,\n",
                     encoding="utf-8")
    code, loaded = cli(settings, "lms", "load-completions", str(other), capsys=capsys)
    assert (code, loaded["problems"][0]["code"]) == (1, "ambiguous-person")
    code, loaded = cli(settings, "lms", "load-completions", str(other), "--connection",
                       "acme-xml", capsys=capsys)
    assert (code, loaded["counts"]["inserted"]) == (0, 1)

    # The next night 001030 leaves (deactivated in SCIM); the result is still exported.
    assert cli(settings, "apply", "acme", str(NIGHT2), capsys=capsys)[1]["counts"][
        "deactivate"] == 3
    assert not {u["externalId"]: u for u in scim_server.users(url)}["001030"]["active"]
    code, first = cli(settings, "export", "acme", capsys=capsys)
    assert (code, first["state"], first["counts"]["rows"]) == (0, "delivered", 3)
    assert lines_of(settings, first) == GOLDEN
    assert first["watermark_after"] > first["watermark_before"]

    # Nothing new: nothing sent. The built-in connection's result stays its own.
    code, again = cli(settings, "export", "acme", capsys=capsys)
    assert (code, again["state"]) == (0, "noop")

    # The same file again changes nothing; a corrected score is one amendment.
    code, loaded = cli(settings, "lms", "load-completions", str(results), "--connection",
                       "acme", capsys=capsys)
    assert loaded["counts"]["unchanged"] == 3 and loaded["counts"]["inserted"] == 0
    results.write_text(ACME.replace(",92.5,", ",95,"), encoding="utf-8")
    code, loaded = cli(settings, "lms", "load-completions", str(results), "--connection",
                       "acme", capsys=capsys)
    assert loaded["counts"]["corrected"] == 1
    code, amended = cli(settings, "export", "acme", capsys=capsys)
    assert (code, amended["counts"]["rows"], amended["counts"]["amendments"]) == (0, 1, 1)
    assert lines_of(settings, amended)[1:] == [
        GOLDEN[1].replace(",92.5,new", ",95,amendment")]
