"""`filebridge person`: one person's timeline across several nights, in text and --json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filebridge.cli.main import main
from filebridge.pipeline.lifecycle import approve, undo
from filebridge.pipeline.person import person_timeline
from tests.pipeline.conftest import NIGHT1
from tests.pipeline.files import apply, by_id, variant
from tests.pipeline.lifecycle_ws import workspace

PRIYA = "001002"  # Sales, line 4 of night 1 (header is line 1, her row the third)
# Night 1 has 6 rejected rows of 199 (3%): let later nights with them apply.
RELAXED = "    thresholds: {rejected_percent: 10}\n"
# The multi-night scenario also has contractors outside the include filter.
FILTERED = RELAXED + "    policies: {include: {employee_types: [full-time, part-time]}}\n"


def _sales_only(rows):
    return [r for r in rows if r["Department"] == "Sales"]


def _nights(ctx, tmp: Path) -> dict[str, int]:
    """Six nights for Priya: hire, change, leave, rehire, undo of the rehire, approved hold."""
    runs = {"hire": apply(ctx, NIGHT1).run_id}

    def promote(rows):
        by_id(rows, PRIYA)["Job Title"] = "Sales Lead"
    changed = variant(NIGHT1, tmp / "acme_employees_2026-11-25.csv", promote)
    runs["change"] = apply(ctx, changed).run_id

    def drop(rows):
        return [r for r in rows if r["Employee ID"] != PRIYA]
    left = variant(changed, tmp / "acme_employees_2026-11-26.csv", drop)
    runs["leave"] = apply(ctx, left).run_id

    def phone(rows):  # another person's change, so the file is not a duplicate of night 2
        by_id(rows, "001000")["Phone"] = "+49 576 9022"
    runs["rehire"] = apply(ctx, variant(changed, tmp / "acme_employees_2026-11-27.csv",
                                        phone)).run_id
    runs["undo"] = undo(ctx, runs["rehire"]).run_id

    def sales_renamed(rows):
        rows = _sales_only(rows)
        by_id(rows, PRIYA)["Last Name"] = "Silva-Berg"
        return rows
    held = apply(ctx, variant(changed, tmp / "acme_employees_2026-11-28.csv", sales_renamed))
    assert held.state == "held"
    runs["held"] = held.run_id
    runs["approve"] = approve(ctx, held.run_id, actor="lee").run_id
    sales = tmp / "acme_employees_2026-11-28.csv"

    def bad_email(rows):
        by_id(rows, PRIYA)["Work Email"] = "priya.silva at example.com"
    runs["reject"] = apply(ctx, variant(sales, tmp / "acme_employees_2026-11-29.csv",
                                        bad_email)).run_id

    def contractor(rows):
        by_id(rows, PRIYA)["Type"] = "CT"
    runs["filter"] = apply(ctx, variant(sales, tmp / "acme_employees_2026-11-30.csv",
                                        contractor)).run_id
    return runs


def test_timeline_across_nights_in_text_and_json(tmp_path, capsys):
    with workspace(tmp_path / "ws", FILTERED) as ctx:
        runs = _nights(ctx, tmp_path)
        answer = person_timeline(ctx, "acme", PRIYA)
    settings = str(tmp_path / "ws" / "settings.yaml")
    assert answer.status == "found" and answer.employee_id == PRIYA
    assert answer.current is not None and answer.current["last_name"] == "Silva-Berg"
    # The last night filtered her out of a snapshot: a leaver of the filter.
    assert answer.current["active"] is False and answer.current["job_title"] == "Sales Lead"
    entries = [(e.run_id, e.kind, e.state, e.about_run) for e in answer.timeline]
    assert entries == [
        (runs["filter"], "import", "applied", None),
        (runs["reject"], "import", "applied", None),
        (runs["approve"], "approve", "applied", runs["held"]),
        (runs["held"], "import", "approved", None),
        (runs["undo"], "undo", "applied", runs["rehire"]),
        (runs["rehire"], "import", "applied", None),
        (runs["leave"], "import", "applied", None),
        (runs["change"], "import", "applied", None),
        (runs["hire"], "import", "applied", None)]
    by_run = {e.run_id: e for e in answer.timeline}
    held = by_run[runs["held"]]
    assert held.changes == () and held.file == "acme_employees_2026-11-28.csv"
    # The people of a held run: what it would have done to her, then who approved it.
    assert [(e.kind, e.code, e.field, e.old, e.value, e.line, e.message, e.expired)
            for e in held.events] == [
        ("held", "reactivate", None, None, None, 2, "active again in file", False),
        ("held", "update", "last_name", "Silva", "Silva-Berg", 2, None, False),
        ("held", "update", "custom.display_name", "Priya Silva", "Priya Silva-Berg", 2, None,
         False)]
    bad = "priya.silva at example.com"
    assert [(e.kind, e.code, e.field, e.value, e.line) for e in by_run[runs["reject"]].events
            ] == [("reject", "invalid-email", "Work Email", bad, 2)]
    assert by_run[runs["reject"]].changes == ()
    assert [(e.kind, e.code, e.line, e.message) for e in by_run[runs["filter"]].events] == [
        ("filter", "filtered-out", 2, "employee type 'contractor' not included")]
    assert all(not e.events for e in answer.timeline[2:] if e.run_id != runs["held"])
    assert [(a.run_id, a.kind, a.state) for a in held.acted_on_by] == [
        (runs["approve"], "approve", "applied")]
    assert held.acted_on_by[0].by  # host:pid of the approving process
    assert held.acted_on_by[0].actor == "lee" and by_run[runs["approve"]].actor == "lee"
    assert by_run[runs["hire"]].actor is None  # a file run nobody started by hand

    def changes(key):
        return [(c.action, c.field, c.old, c.new, c.line, c.reason)
                for c in by_run[runs[key]].changes]
    # Within a run, newest first: the approve reactivated her (the undo had deactivated
    # her) after updating two fields; she is line 2 of the Sales-only file.
    assert changes("filter") == [("deactivate", None, None, None, 2,
                                  "outside the include filter: employee type 'contractor' "
                                  "not included")]
    assert changes("approve") == [
        ("reactivate", None, None, None, 2, "active again in file"),
        ("update", "custom.display_name", "Priya Silva", "Priya Silva-Berg", 2, None),
        ("update", "last_name", "Silva", "Silva-Berg", 2, None)]
    assert changes("undo") == [("deactivate", None, None, None, None,
                                f"undo of run {runs['rehire']}")]
    assert changes("rehire") == [("reactivate", None, None, None, 4, "active again in file")]
    assert changes("leave") == [("deactivate", None, None, None, None,
                                 "missing from snapshot")]
    assert changes("change") == [("update", "job_title", "Account Manager", "Sales Lead", 4,
                                  None)]
    assert changes("hire") == [("create", None, None, None, 4, None)]
    assert by_run[runs["hire"]].file == NIGHT1.name and by_run[runs["hire"]].file_kept

    code = main(["person", "acme", PRIYA, "--settings", settings, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc == json.loads(json.dumps(answer.to_dict()))
    assert set(doc) == {"connection", "query", "status", "employee_id", "current", "timeline",
                        "candidates", "suggestions", "notes"}
    assert set(doc["timeline"][0]) == {"run_id", "at", "kind", "state", "file", "file_id",
                                       "file_kept", "about_run", "actor", "acted_on_by",
                                       "changes", "events"}
    assert set(doc["timeline"][0]["changes"][0]) == {"action", "employee_id", "field", "old",
                                                     "new", "line", "reason"}
    assert doc["timeline"][1]["events"] == [{
        "kind": "reject", "code": "invalid-email", "field": "Work Email", "old": None,
        "value": bad, "line": 2, "expired": False,
        "message": f"'{bad}' is not a valid work email (ASCII user@domain.tld)"}]
    assert doc["timeline"][0]["events"] == [{
        "kind": "filter", "code": "filtered-out", "field": None, "old": None, "value": None,
        "line": 2, "message": "employee type 'contractor' not included", "expired": False}]
    held_doc = doc["timeline"][3]
    assert held_doc["run_id"] == runs["held"] and held_doc["state"] == "approved"
    assert held_doc["acted_on_by"][0]["actor"] == "lee"
    assert held_doc["events"][1] == {
        "kind": "held", "code": "update", "field": "last_name", "old": "Silva",
        "value": "Silva-Berg", "line": 2, "message": None, "expired": False}
    assert doc["timeline"][4]["kind"] == "undo"

    code = main(["person", "acme", PRIYA, "--settings", settings])
    out = capsys.readouterr().out
    assert code == 0
    assert "person 001002 of connection acme" in out
    assert f"run {runs['change']}" in out and "job_title: 'Account Manager' → 'Sales Lead' " \
                                               "(line 4)" in out
    assert "deactivated: missing from snapshot" in out
    assert f"undo of run {runs['rehire']}" in out
    assert f"approve by run {runs['approve']}" in out and "(lee, " in out
    assert "file acme_employees_2026-11-28.csv" in out
    assert (f"rejected (line 2): invalid-email column 'Work Email' value '{bad}': '{bad}' is "
            "not a valid work email (ASCII user@domain.tld)") in out
    assert "filtered out (line 2): employee type 'contractor' not included" in out
    assert "held: would update last_name: 'Silva' → 'Silva-Berg' (line 2)" in out
    assert "held: would reactivate (line 2): active again in file" in out


def test_query_by_email_former_email_name_and_since(tmp_path, capsys):
    with workspace(tmp_path / "ws", RELAXED) as ctx:
        apply(ctx, NIGHT1)

        def new_mail(rows):
            by_id(rows, PRIYA)["Work Email"] = "priya.silva@acme.example"
        apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_2026-11-25.csv", new_mail))
        for query in ("priya.silva@acme.example", "PRIYA.SILVA2@acme.example"):
            answer = person_timeline(ctx, "acme", query)
            assert (answer.status, answer.employee_id) == ("found", PRIYA), query
        assert person_timeline(ctx, "acme", "sofia lars").employee_id == "001008"
        later = person_timeline(ctx, "acme", PRIYA, since=datetime(2999, 1, 1, tzinfo=UTC))
        assert later.status == "found" and later.timeline == ()
        several = person_timeline(ctx, "acme", "Priya Sil")
        assert several.status == "ambiguous"
        assert [(c.employee_id, c.name, c.email, c.active) for c in several.candidates] == [
            (PRIYA, "Priya Silva", "priya.silva@acme.example", True),
            ("001033", "Priya Silva", "priya.silva33@acme.example", True)]
    code = main(["person", "acme", "Priya Sil", "--settings", str(tmp_path / "ws" /
                                                                  "settings.yaml")])
    out = capsys.readouterr().out
    assert code == 1 and "2 people in 'acme' match 'Priya Sil'" in out
    assert "  001033  Priya Silva  priya.silva33@acme.example  (active)" in out


def test_unknown_person_suggests_near_matches_of_that_connection_only(tmp_path, capsys):
    with workspace(tmp_path / "ws") as ctx:
        apply(ctx, NIGHT1)
        answer = person_timeline(ctx, "acme", "Priya Slva")
        assert answer.status == "unknown" and answer.suggestions[0] == "Priya Silva"
        # acme-xml is another connection of the same store: acme's people are not its own.
        other = person_timeline(ctx, "acme-xml", PRIYA)
        assert other.status == "unknown" and other.suggestions == ()
    settings = str(tmp_path / "ws" / "settings.yaml")
    code = main(["person", "acme", "priya.silva2@acme.exampel", "--settings", settings])
    out = capsys.readouterr().out
    assert code == 1 and "nobody in connection 'acme'" in out
    assert "did you mean: priya.silva2@acme.example" in out
    code = main(["person", "acme-xml", PRIYA, "--settings", settings, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["status"] == "unknown" and doc["timeline"] == []


def test_removed_file_is_said(tmp_path):
    with workspace(tmp_path / "ws") as ctx:
        report = apply(ctx, NIGHT1)
        Path(ctx.ledger.get_file(report.file_id).spool_path).unlink()
        answer = person_timeline(ctx, "acme", PRIYA)
    (entry,) = answer.timeline
    assert entry.file == NIGHT1.name and entry.file_kept is False
    assert answer.notes == (f"the file of run {report.run_id} ({NIGHT1.name}) is no longer "
                            "kept: shown is what the ledger keeps",)


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday"])
def test_since_must_be_a_date(tmp_path, capsys, bad):
    with workspace(tmp_path / "ws"):
        pass
    with pytest.raises(SystemExit) as exit_info:
        main(["person", "acme", PRIYA, "--since", bad,
              "--settings", str(tmp_path / "ws" / "settings.yaml")])
    assert exit_info.value.code == 2 and "not a date" in capsys.readouterr().err


def test_rejects_past_the_error_cap_and_rows_without_an_id(tmp_path, capsys):
    """Every rejected row with an employee id is an event of that person, past the
    mapping's error cap too (without detail); a row with a blank id names nobody."""
    def no_id(rows):
        by_id(rows, "001010")["Employee ID"] = ""

    with workspace(tmp_path / "ws", RELAXED,
                   mapping=lambda text: text.replace("max_errors: 1000", "max_errors: 2")
                   ) as ctx:
        night = variant(NIGHT1, tmp_path / "acme_employees_2026-11-24.csv", no_id)
        report = apply(ctx, night)
        assert report.state == "applied" and report.rejected_rows == 7
        events = ctx.ledger.person_events("acme", [
            "", "001010", "001040", "001050", "001051", "001060", "001061", "001062"])
        answer = person_timeline(ctx, "acme", "001062")
    assert "" not in set(events["employee_id"]) and "001010" not in set(events["employee_id"])
    assert sorted(events["employee_id"]) == ["001040", "001050", "001051", "001060", "001061",
                                             "001062"]
    # The cap of two kept the blank id's problem (line 12) and 001040's: the rest of the
    # rejected rows are events without detail.
    assert list(events.sort_values("line")["code"].fillna("-")) == [
        "missing-email", "-", "-", "-", "-", "-"]
    [entry] = answer.timeline
    assert [(e.kind, e.code, e.line) for e in entry.events] == [("reject", None, 64)]
    main(["person", "acme", "001062", "--settings", str(tmp_path / "ws" / "settings.yaml")])
    assert ("rejected (line 64): row rejected (no detail: past the run's error limit)"
            in capsys.readouterr().out)
