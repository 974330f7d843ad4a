"""One import run end to end on the sample exports: nights, duplicates, replays, holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from filebridge.pipeline.context import Context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.plan.summary import PlanSummary
from tests.pipeline.conftest import DELTA, NIGHT1, NIGHT2, XML1

APPLY = RunOptions(mode="apply")


def apply(ctx: Context, path: Path, **kw):
    return run_import(ctx, "acme", path, RunOptions(mode="apply", **kw))


def test_two_nights_and_a_delta(ctx):
    first = apply(ctx, NIGHT1)
    assert (first.state, first.counts["create"], first.rejected_rows) == ("applied", 194, 6)
    assert first.exit_code == 1  # rows were rejected
    codes = sorted({p.code for p in first.problems})
    assert codes == ["duplicate-email", "manager-cycle", "missing-email"]
    second = apply(ctx, NIGHT2)
    assert second.counts == {**second.counts, "create": 11, "update": 5, "deactivate": 3,
                             "reactivate": 0, "rejected": 1}
    leavers = {d.employee_id: d.reason for d in second.plan.deactivations}
    assert leavers == {"001020": "status inactive in file", "001030": "missing from snapshot",
                       "001031": "missing from snapshot"}
    # 001014's row has no work email: skipped, and not a leaver because of it.
    assert "001014" not in leavers
    third = apply(ctx, DELTA)
    assert [r.employee_id for r in third.plan.reactivations] == ["001020"]
    users = ctx.store.users("acme")
    rehired = users.set_index("employee_id").loc["001020"]
    assert bool(rehired["active"]) and rehired["termination_date"] == ""
    assert len(users) == 194 + 11


def test_updates_name_old_and_new_values_and_lines(ctx):
    apply(ctx, NIGHT1)
    plan = run_import(ctx, "acme", NIGHT2, RunOptions(mode="plan")).plan
    assert isinstance(plan, PlanSummary)
    change = {(u.employee_id, u.field): (u.old, u.new, u.line) for u in plan.updates}
    assert change[("001010", "job_title")][1] == "Staff Engineer"
    assert change[("001011", "department")] == ("Operations", "Sales", 13)


def test_plan_changes_nothing(ctx):
    apply(ctx, NIGHT1)
    before = ctx.store.dump()
    report = run_import(ctx, "acme", NIGHT2, RunOptions(mode="plan"))
    assert report.state == "planned" and ctx.store.dump() == before


def test_same_content_twice_is_applied_once(ctx, tmp_path):
    apply(ctx, NIGHT1)
    before = ctx.store.dump()
    renamed = tmp_path / "acme_employees_renamed.csv"
    renamed.write_bytes(NIGHT1.read_bytes())
    again = apply(ctx, renamed)
    assert again.state == "duplicate" and again.duplicate_of == 1 and again.exit_code == 0
    assert ctx.store.dump() == before
    assert ctx.ledger.get_file(again.file_id).state == "duplicate"


def test_replay_of_an_applied_file_changes_nothing(ctx):
    apply(ctx, NIGHT1)
    before = ctx.store.dump()
    replay = apply(ctx, NIGHT1, replay=True, kind="replay")
    assert replay.state == "applied"
    assert {k: replay.counts[k] for k in ("create", "update", "deactivate", "reactivate")} == {
        "create": 0, "update": 0, "deactivate": 0, "reactivate": 0}
    assert ctx.store.dump() == before


def test_xml_export_gives_the_same_people_as_csv(ctx):
    xml = run_import(ctx, "acme-xml", XML1, APPLY)
    assert xml.state == "applied" and xml.counts["create"] == 194 - 0 - 0
    assert xml.rejected_rows == 5  # the XML export has no row without email


@pytest.mark.parametrize("content, code", [
    (b"", "empty-file"),
    (b"Employee ID,Work Email\n000001,a@x.io\n", "missing-column"),
])
def test_unusable_file_is_rejected_and_nothing_changes(ctx, tmp_path, content, code):
    apply(ctx, NIGHT1)
    before = ctx.store.dump()
    bad = tmp_path / "acme_employees_bad.csv"
    bad.write_bytes(content)
    report = apply(ctx, bad)
    assert report.state == "rejected" and report.exit_code == 2
    assert [p.code for p in report.problems] == [code]
    assert ctx.store.dump() == before
    assert ctx.ledger.get_file(report.file_id).state == "rejected"


def test_header_only_snapshot_is_held_against_a_filled_lms(ctx, tmp_path):
    apply(ctx, NIGHT1)
    header = NIGHT1.read_bytes().split(b"\r\n", 1)[0] + b"\r\n"
    empty = tmp_path / "acme_employees_empty.csv"
    empty.write_bytes(header)
    before = ctx.store.dump()
    report = apply(ctx, empty)
    assert report.state == "held" and report.exit_code == 1
    assert [h.code for h in report.holds] == ["empty-snapshot", "too-many-deactivate"]
    assert ctx.store.dump() == before


def test_header_only_snapshot_against_empty_lms_is_a_noop(ctx, tmp_path):
    empty = tmp_path / "acme_employees_empty.csv"
    empty.write_bytes(NIGHT1.read_bytes().split(b"\r\n", 1)[0] + b"\r\n")
    report = apply(ctx, empty)
    assert report.state == "applied" and report.exit_code == 0 and not report.holds


def test_department_file_is_held_then_forced(ctx, tmp_path):
    apply(ctx, NIGHT1)
    lines = NIGHT1.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    sales_only = [lines[0]] + [ln for ln in lines[1:] if ",Sales," in ln]
    part = tmp_path / "acme_employees_sales.csv"
    part.write_text("".join(sales_only), encoding="utf-8")
    held = apply(ctx, part)
    assert held.state == "held" and "too-many-deactivate" in [h.code for h in held.holds]
    assert ctx.store.users("acme", active=False).empty
    forced = run_import(ctx, "acme", part, RunOptions(mode="apply", force=True, replay=True))
    assert forced.state == "applied" and forced.counts["deactivate"] > 50


def test_reject_file_has_original_columns_and_error(ctx):
    report = apply(ctx, NIGHT1)
    raw = Path(report.reject_file).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the source's byte-order mark, kept
    text = raw.decode("utf-8-sig")
    source = NIGHT1.read_text(encoding="utf-8-sig").splitlines()
    for record in text.splitlines()[1:]:  # each record is the source's line, then the reason
        line = int(record.rpartition(",line ")[2].split(":")[0])
        assert record.startswith(source[line - 1] + ",line ")
    header = text.splitlines()[0]
    assert header.startswith("Employee ID,Work Email") and header.endswith(",filebridge_error")
    assert "line 42: Work Email: required field email is blank" in text
    assert "manager cycle" in text


def test_applied_mark_commits_with_the_changes(ctx):
    report = apply(ctx, NIGHT1)
    db = sqlite3.connect(ctx.settings.state_dir / "lms.sqlite")
    (state,) = db.execute("select state from runs where id = ?", (report.run_id,)).fetchone()
    (n,) = db.execute("select count(*) from users").fetchone()
    assert (state, n) == ("applied", 194)


def test_control_character_row_is_rejected_and_its_person_is_not_a_leaver(ctx, tmp_path):
    apply(ctx, NIGHT1)
    text = NIGHT1.read_text(encoding="utf-8-sig")
    bad = tmp_path / "acme_employees_bidi.csv"
    bad.write_text(text.replace("Zoë", "Zo\u202eë", 1), encoding="utf-8")
    report = run_import(ctx, "acme", bad, RunOptions(mode="plan"))
    problem = next(p for p in report.problems if p.code == "control-character")
    assert problem.column == "First Name" and problem.line > 1
    assert report.rejected_rows == 7  # night 1's six plus this one
    assert not report.plan.deactivations
