"""`filebridge person --file`: what one file would do to one person, and why."""

from __future__ import annotations

import json
from pathlib import Path

from filebridge.cli.main import main
from filebridge.pipeline.person_file import explain_file
from tests.pipeline.conftest import NIGHT1
from tests.pipeline.files import apply, by_id, variant
from tests.pipeline.lifecycle_ws import workspace

PRIYA = "001002"  # line 4 of night 1
SOFIA = "001003"  # line 5
CONTRACTOR = "001008"  # line 10 of night 1, type CT: outside the include filter below
BLOCK = ("    thresholds: {rejected_percent: 10}\n"
         "    policies: {include: {employee_types: [full-time, part-time]}}\n")


def _night2(rows):
    priya = by_id(rows, PRIYA)
    priya["Job Title"] = "  Sales   Lead "
    priya["Type"] = "PT"
    priya["Hire Date"] = "16/09/2020"
    by_id(rows, SOFIA)["Country"] = "xx"
    rows.append({**by_id(rows, PRIYA), "Employee ID": "009999", "Work Email":
                 " New.Hire@ACME.example", "First Name": "New", "Last Name": "Hire"})
    return [r for r in rows if r["Employee ID"] != "001004"]


def _steps(answer, field):
    trace = next(f for f in answer.rows[0].fields if f.field == field)
    return [(s.step, s.value) for s in trace.steps], trace.value, trace.column


def test_explains_transforms_map_date_and_the_planned_update(tmp_path):
    with workspace(tmp_path / "ws", BLOCK) as ctx:
        apply(ctx, NIGHT1)
        night2 = variant(NIGHT1, tmp_path / "acme_employees_2026-11-25.csv", _night2)
        runs_before = len(ctx.ledger.runs("acme"))
        answer = explain_file(ctx, "acme", PRIYA, night2)
        assert len(ctx.ledger.runs("acme")) == runs_before  # nothing recorded
        stored = ctx.store.person("acme", PRIYA)
    assert stored is not None and stored["job_title"] == "Account Manager"  # nothing applied
    assert answer.status == "found" and answer.employee_id == PRIYA
    assert answer.file_kind == "snapshot" and [r.line for r in answer.rows] == [4]
    assert _steps(answer, "job_title") == (
        [("cell", "  Sales   Lead "), ("trim", "Sales   Lead"),
         ("collapse_spaces", "Sales Lead")], "Sales Lead", "Job Title")
    assert _steps(answer, "employee_type") == (
        [("cell", "PT"), ("map", "part-time")], "part-time", "Type")
    assert _steps(answer, "hire_date") == (
        [("cell", "16/09/2020"), ("date %d/%m/%Y", "2020-09-16")], "2020-09-16", "Hire Date")
    assert _steps(answer, "status") == (
        [("cell", "A"), ("default 'A' when blank", "A"), ("map", "active")], "active",
        "Status")
    assert _steps(answer, "phone")[0][-1] == (
        "regex_replace '[ ()-]' → ''", "+326415162")
    assert _steps(answer, "custom.display_name") == (
        [("template", "Priya Silva")], "Priya Silva", None)
    assert [(o.action, o.field, o.old, o.new, o.line) for o in answer.outcomes] == [
        ("update", "employee_type", "full-time", "part-time", 4),
        ("update", "hire_date", "2020-09-15", "2020-09-16", 4),
        ("update", "job_title", "Account Manager", "Sales Lead", 4)]
    assert answer.held is False and answer.holds == ()  # one leaver, one reject: applied


def test_reject_filter_create_deactivate_and_unknown(tmp_path):
    with workspace(tmp_path / "ws", BLOCK) as ctx:
        apply(ctx, NIGHT1)
        night2 = variant(NIGHT1, tmp_path / "acme_employees_2026-11-25.csv", _night2)
        sofia = explain_file(ctx, "acme", "sofia.jansen3@acme.example", night2)
        contractor = explain_file(ctx, "acme", CONTRACTOR, night2)
        hire = explain_file(ctx, "acme", "new.hire@acme.example", night2)
        leaver = explain_file(ctx, "acme", "001004", night2)
        nobody = explain_file(ctx, "acme", "priya.silva@acme.example", night2)
    assert sofia.employee_id == SOFIA
    assert [(o.action, o.code, o.column, o.value, o.line) for o in sofia.outcomes] == [
        ("reject", "not-allowed", "Country", "XX", 5)]
    assert _steps(sofia, "country")[0] == [("cell", "xx"), ("trim", "xx"), ("upper", "XX")]
    assert [(o.action, o.reason, o.code, o.line) for o in contractor.outcomes] == [
        ("filter", "employee type 'contractor' not included", "filtered-out", 9)]  # 001004 is gone
    assert hire.employee_id == "009999"
    assert [(o.action, o.line) for o in hire.outcomes] == [("create", 201)]
    assert _steps(hire, "email")[0] == [
        ("cell", " New.Hire@ACME.example"), ("trim", "New.Hire@ACME.example"),
        ("lower", "new.hire@acme.example"), ("email", "new.hire@acme.example")]
    assert leaver.rows == ()
    assert [(o.action, o.reason, o.line) for o in leaver.outcomes] == [
        ("deactivate", "missing from snapshot", None)]
    assert nobody.status == "unknown" and "priya.silva2@acme.example" in nobody.suggestions


def test_cli_text_and_json(tmp_path, capsys):
    with workspace(tmp_path / "ws", BLOCK) as ctx:
        apply(ctx, NIGHT1)
    night2 = variant(NIGHT1, tmp_path / "acme_employees_2026-11-25.csv", _night2)
    settings = str(tmp_path / "ws" / "settings.yaml")
    code = main(["person", "acme", PRIYA, "--file", str(night2), "--settings", settings])
    out = capsys.readouterr().out
    assert code == 0
    assert "nothing was changed" in out and "line 4:" in out
    assert ("  job_title (column 'Job Title'): cell '  Sales   Lead ' → trim 'Sales   Lead' → "
            "collapse_spaces 'Sales Lead' ⇒ 'Sales Lead'") in out
    assert "  update job_title: 'Account Manager' → 'Sales Lead' (line 4)" in out
    code = main(["person", "acme", SOFIA, "--file", str(night2), "--settings", settings])
    assert code == 0 and ("reject not-allowed (line 5) column 'Country' value 'XX'"
                          in capsys.readouterr().out)
    code = main(["person", "acme", PRIYA, "--file", str(night2), "--settings", settings,
                 "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(doc) == {"connection", "query", "file", "status", "employee_id", "file_kind",
                        "held", "holds", "rows", "outcomes", "candidates", "suggestions"}
    assert doc["held"] is False and doc["holds"] == []
    assert set(doc["rows"][0]) == {"line", "fields"}
    assert set(doc["rows"][0]["fields"][0]) == {"field", "column", "steps", "value"}
    assert set(doc["rows"][0]["fields"][0]["steps"][0]) == {"step", "value"}
    assert set(doc["outcomes"][0]) == {"action", "line", "field", "old", "new", "reason",
                                       "code", "column", "value"}
    code = main(["person", "acme", "zz-nobody", "--file", str(night2), "--settings", settings])
    assert code == 1 and "nobody in connection 'acme'" in capsys.readouterr().out


def test_unreadable_file_is_explained(tmp_path: Path):
    bad = tmp_path / "acme_employees_2026-11-25.csv"
    bad.write_text("Employee ID,Work Email\n001002,priya.silva2@acme.example\n",
                   encoding="utf-8")
    with workspace(tmp_path / "ws", BLOCK) as ctx:
        apply(ctx, NIGHT1)
        answer = explain_file(ctx, "acme", PRIYA, bad)
    assert answer.status == "found"
    assert [(o.action, o.code) for o in answer.outcomes] == [("file-rejected", "missing-column")]
    assert answer.held is None and answer.holds == ()


def test_says_whether_the_whole_file_would_be_held(tmp_path, capsys):
    with workspace(tmp_path / "ws", BLOCK) as ctx:
        apply(ctx, NIGHT1)
        runs_before = len(ctx.ledger.runs("acme"))
        sales = variant(NIGHT1, tmp_path / "acme_employees_2026-11-25.csv",
                        lambda rows: [r for r in rows if r["Department"] == "Sales"])
        answer = explain_file(ctx, "acme", PRIYA, sales)
        assert len(ctx.ledger.runs("acme")) == runs_before
        # What an import of the same file decides, for comparison.
        imported = apply(ctx, sales)
    assert answer.held is True and imported.state == "held"
    assert [h.to_dict() for h in answer.holds] == [h.to_dict() for h in imported.holds]
    assert [h.code for h in answer.holds if h.reaction == "hold"] == [
        "row-count-drop", "too-many-deactivate"]
    settings = str(tmp_path / "ws" / "settings.yaml")
    assert main(["person", "acme", PRIYA, "--file", str(sales), "--settings", settings]) == 0
    out = capsys.readouterr().out
    assert "the whole file would be held for approval" in out
    assert f"hold: row-count-drop: {answer.holds[0].message}" in out
    assert main(["person", "acme", PRIYA, "--file", str(sales), "--settings", settings,
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["held"] is True and doc["holds"][0]["code"] == "row-count-drop"
