"""Per-run change logs: the CSV change list equals the plan, cells are formula-safe, and
the run's log lines are kept as JSON Lines; ``show RUN --changes-csv`` / ``--log``."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from filebridge.cli.main import main
from filebridge.pipeline.changelog import CHANGE_LOG_COLUMNS, change_log_path, run_log_path
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.report import RunReport
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
from tests.pipeline.files import apply, by_id, plan, read_rows, variant
from tests.pipeline.test_field_drift import LOOSE, outside_update


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def expected_rows(report: RunReport) -> Counter[tuple[str, ...]]:
    """The plan of ``report`` as change-log rows (the summary is complete below 1000 rows)."""
    p = report.to_dict()["plan"]
    assert not p["truncated"]

    def line(value: object) -> str:
        return "" if value is None else str(value)

    out: list[tuple[str, ...]] = []
    out += [(r["employee_id"], "rekey", "employee_id", r["old_employee_id"], r["employee_id"],
             line(r["line"])) for r in p["rekeys"]]
    out += [(r["employee_id"], "create", "", "", "", line(r["line"])) for r in p["creates"]]
    out += [(r["employee_id"], "update", r["field"], r["old"], r["new"], line(r["line"]))
            for r in p["updates"]]
    out += [(r["employee_id"], "drift", r["field"], r["lms"], r["new"], line(r["line"]))
            for r in p["drift"]]
    out += [(r["employee_id"], "deactivate", "active", "true", "false", line(r["line"]))
            for r in p["deactivations"]]
    out += [(r["employee_id"], "reactivate", "active", "false", "true", line(r["line"]))
            for r in p["reactivations"]]
    out += [(r["employee_id"], "delete", "", "", "", line(r["line"])) for r in p["deletes"]]
    return Counter(out)


def test_the_csv_change_log_equals_the_plan(tmp_path):
    settings = write_workspace(tmp_path, thresholds="    thresholds: {rejected_percent: 5}\n")
    ctx = open_context(settings)
    try:
        first = apply(ctx, NIGHT1)
        outside_update(ctx, "UPDATE users SET location = 'Atlantis' WHERE employee_id = ?",
                       "001021")

        def formulas(rows):
            by_id(rows, "001010")["First Name"] = "=HYPERLINK(\"http://x\")"

        night2 = variant(NIGHT2, tmp_path / "acme_employees_2026-11-25.csv", formulas)
        planned = plan(ctx, night2)
        second = apply(ctx, night2)
        reports = ctx.reports_dir("acme")
        for report in (first, planned, second):
            assert report.run_id is not None
            text = change_log_path(reports, report.run_id).read_text(encoding="utf-8")
            assert text.lstrip("\ufeff").splitlines()[0] == ",".join(CHANGE_LOG_COLUMNS)
            rows = rows_of(text)
            got = Counter(tuple(r[c] for c in CHANGE_LOG_COLUMNS) for r in rows)
            want = expected_rows(report)
            # The CSV neutralises formula cells; the plan keeps the value as it is.
            want = Counter({tuple("'" + v if i in (3, 4) and v.startswith("=") else v
                                  for i, v in enumerate(k)): n for k, n in want.items()})
            assert got == want, report.run_id
        kinds = Counter(r["action"] for r in rows_of(change_log_path(
            reports, second.run_id).read_text(encoding="utf-8")))
        assert kinds["create"] == 11 and kinds["deactivate"] == 3 and kinds["drift"] == 1
        assert second.counts["drift"] == 1
        log = [json.loads(x) for x in run_log_path(reports, second.run_id).read_text(
            encoding="utf-8").splitlines()]
        assert {x["run_id"] for x in log} == {second.run_id}
        assert log[-1]["message"].startswith(f"run {second.run_id} applied: create 11")
        assert not any("@" in x["message"] for x in log)
    finally:
        ctx.close()


def test_show_prints_the_change_list_and_the_log(tmp_path, capsys):
    settings = write_workspace(tmp_path)
    args = ["--settings", str(settings)]
    main(["apply", "acme", str(NIGHT1), *args])
    capsys.readouterr()
    assert main(["show", "1", "--changes-csv", *args]) == 0
    rows = rows_of(capsys.readouterr().out)
    assert len(rows) == 194 and {r["action"] for r in rows} == {"create"}
    assert main(["show", "1", "--log", *args]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert any(x["message"].startswith("stage read") for x in lines)
    assert main(["show", "7", "--log", *args]) != 0  # no such run: the ledger says so
    assert "run 7 not in" in capsys.readouterr().err
    run_log_path(settings.parent / "state" / "reports" / "acme", 1).unlink()
    assert main(["show", "1", "--log", *args]) == 2
    err = capsys.readouterr().err
    assert "run 1 has no log at" in err and "cleanup --dry-run" in err


def test_an_undo_run_writes_its_change_list_too(tmp_path):
    from filebridge.pipeline.lifecycle import undo

    ctx = open_context(write_workspace(tmp_path))
    try:
        apply(ctx, NIGHT1)
        night2 = apply(ctx, NIGHT2)
        undone = undo(ctx, night2.run_id, force=True)
        assert undone.run_id is not None and undone.state == "applied"
        rows = rows_of(change_log_path(ctx.reports_dir("acme"), undone.run_id).read_text(
            encoding="utf-8"))
        got = Counter(tuple(r[c] for c in CHANGE_LOG_COLUMNS) for r in rows)
        assert got == expected_rows(undone) and got
    finally:
        ctx.close()


def log_lines(ctx, run_id: int) -> list[dict[str, object]]:
    from filebridge.pipeline.changelog import run_file

    text = run_file(ctx, run_id, "log").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_link_discard_and_undo_runs_write_their_log_too(tmp_path):

    from filebridge.pipeline.lifecycle import discard, link, undo

    ctx = open_context(write_workspace(tmp_path, thresholds=LOOSE))
    try:
        unmanaged_account_for_001005(ctx)
        apply(ctx, NIGHT1)
        linked = link(ctx, "acme", NIGHT1, "email")
        night2 = apply(ctx, NIGHT2)
        undone = undo(ctx, night2.run_id, force=True)
        half = variant(NIGHT2, tmp_path / "acme_employees_half.csv", lambda rows: rows[:90])
        held = apply(ctx, half)
        assert held.state == "held" and held.run_id is not None
        dropped = discard(ctx, held.run_id, actor="ops")
        for report, first in ((linked, "link acme_employees_2026-11-24.csv by email: 1 "),
                              (undone, f"undo of run {night2.run_id}: "),
                              (dropped, f"discard held run {held.run_id} by ops")):
            assert report.run_id is not None
            lines = log_lines(ctx, report.run_id)
            assert all(line["run_id"] == report.run_id and line["connection"] == "acme"
                       for line in lines)
            assert str(lines[0]["message"]).startswith(first), lines
            assert lines[-1]["message"] == f"run {report.run_id} {report.state}: " + ", ".join(
                f"{k} {v}" for k, v in report.counts.items())
            assert "@" not in json.dumps(lines)  # e-mail addresses are masked
    finally:
        ctx.close()


def test_group_changes_reach_the_change_list_and_the_timeline(tmp_path, capsys):
    from tests.cli.test_json_contract import GROUP_RULES

    settings = write_workspace(tmp_path)
    mapping = settings.parent / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + GROUP_RULES, encoding="utf-8")
    ctx = open_context(settings)
    try:
        first = apply(ctx, NIGHT1)
        joined = [g for g in first.plan.groups if g.action == "add"]
        assert joined and first.run_id is not None
        rows = rows_of(change_log_path(ctx.reports_dir("acme"), first.run_id).read_text(
            encoding="utf-8"))
        listed = {(r["employee_id"], r["new"]) for r in rows if r["action"] == "group_add"}
        assert listed == {(g.employee_id, g.group) for g in joined}
        who = joined[0]
        assert main(["person", "acme", who.employee_id, "--json", "--settings",
                     str(settings)]) == 0
        timeline = json.loads(capsys.readouterr().out)["timeline"]
        changes = [c for t in timeline for c in t["changes"] if c["action"] == "group_add"]
        assert {c["new"] for c in changes} == {g.group for g in joined
                                               if g.employee_id == who.employee_id}
        assert main(["person", "acme", who.employee_id, "--settings", str(settings)]) == 0
        assert f"joined group {who.group!r}" in capsys.readouterr().out
    finally:
        ctx.close()


def test_link_and_discard_runs_write_their_change_list_too(tmp_path, capsys):

    from filebridge.pipeline.lifecycle import discard, link

    settings = write_workspace(tmp_path, thresholds=LOOSE)
    args = ["--settings", str(settings)]
    ctx = open_context(settings)
    try:
        unmanaged_account_for_001005(ctx)
        linked = link(ctx, "acme", NIGHT1, "email")
        assert linked.state == "applied" and linked.counts["adopt"] == 1
        line = str(linked.plan.adoptions[0].line)
        apply(ctx, NIGHT1)
        half = variant(NIGHT2, tmp_path / "acme_employees_half.csv", lambda rows: rows[:90])
        held = apply(ctx, half)
        assert held.state == "held" and held.run_id is not None
        dropped = discard(ctx, held.run_id, actor="ops")
    finally:
        ctx.close()
    capsys.readouterr()
    assert main(["show", str(linked.run_id), "--changes-csv", *args]) == 0
    text = capsys.readouterr().out
    assert text.lstrip("\ufeff").splitlines()[0] == ",".join(CHANGE_LOG_COLUMNS)
    assert [tuple(r[c] for c in CHANGE_LOG_COLUMNS) for r in rows_of(text)] == [
        ("001005", "adopt", "employee_id", "LMS-77", "001005", line)]
    # A discard changes nothing: the list is there, with its header alone.
    assert main(["show", str(dropped.run_id), "--changes-csv", *args]) == 0
    text = capsys.readouterr().out
    assert text.lstrip("\ufeff").splitlines() == [",".join(CHANGE_LOG_COLUMNS)]


def unmanaged_account_for_001005(ctx: Context) -> None:
    """An LMS account filebridge does not manage, with the e-mail of NIGHT1's 001005: a
    ``link`` by e-mail adopts it."""
    from datetime import UTC, datetime

    from filebridge.lms.schema import users

    address = by_id(read_rows(NIGHT1), "001005")["Work Email"]
    now = datetime.now(UTC)
    with ctx.store.engine.begin() as tx:
        tx.execute(users.insert().values(managed_by=None, employee_id="LMS-77",
                                         email=address, created_at=now, updated_at=now))
