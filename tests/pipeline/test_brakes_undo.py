"""Safety brakes, approve and discard of held runs, undo, and stale files."""

from __future__ import annotations

import pytest

from filebridge.pipeline.errors import NotHeld, StaleApproval
from filebridge.pipeline.lifecycle import approve, discard, undo
from tests.pipeline.conftest import DELTA, NIGHT1, NIGHT2
from tests.pipeline.files import apply, by_id, person, plan, read_rows, variant
from tests.pipeline.lifecycle_ws import workspace


def _sales_only(rows):
    return [r for r in rows if r["Department"] == "Sales"]


def test_held_run_is_approved_after_replanning_against_the_current_store(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        part = variant(NIGHT1, tmp_path / "acme_employees_sales.csv", _sales_only)
        held = apply(ctx, part)
        assert held.state == "held" and held.exit_code == 1
        assert "too-many-deactivate" in [h.code for h in held.holds]
        assert ctx.store.users("acme", active=False).empty
        apply(ctx, DELTA)  # the store moves on while the run waits
        with pytest.raises(StaleApproval) as stale:  # newer data: approving needs a yes
            approve(ctx, held.run_id)
        assert DELTA.name in stale.value.verdict
        approved = approve(ctx, held.run_id, stale_ok=True)
        assert approved.state == "applied" and approved.about_run == held.run_id
        assert approved.counts["deactivate"] > 50
        assert ctx.ledger.get_run(held.run_id).state == "approved"
        run = ctx.ledger.get_run(approved.run_id)
        assert (run.kind, run.about_run) == ("approve", held.run_id)
        with pytest.raises(NotHeld):
            approve(ctx, held.run_id)


def test_declined_approval_leaves_the_run_held_and_discard_drops_it(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        held = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_sales.csv", _sales_only))
        shown = approve(ctx, held.run_id, confirm=lambda report: False)
        assert shown.state == "planned" and ctx.ledger.get_run(held.run_id).state == "held"
        before = ctx.store.dump()
        dropped = discard(ctx, held.run_id)
        assert ctx.ledger.get_run(held.run_id).state == "discarded"
        assert ctx.ledger.get_run(dropped.run_id).kind == "discard"
        assert ctx.store.dump() == before


def test_warn_threshold_applies_with_a_warning(tmp_path):
    block = "    thresholds: {create: {count: 5, reaction: warn}}\n"
    with workspace(tmp_path, block) as ctx:
        apply(ctx, NIGHT1)
        report = apply(ctx, NIGHT2)
        assert report.state == "applied"
        assert (report.holds[0].code, report.holds[0].reaction) == ("too-many-create", "warn")


def test_row_count_drop_holds(tmp_path):
    block = ("    thresholds: {deactivate: {percent: 100, count: null}, row_drop_percent: 10,\n"
             "                 rejected_percent: 5}\n")
    with workspace(tmp_path, block) as ctx:
        apply(ctx, NIGHT1)
        cut = variant(NIGHT1, tmp_path / "acme_employees_cut.csv", lambda rows: rows[:170])
        report = apply(ctx, cut)
        assert report.state == "held"
        assert [h.code for h in report.holds] == ["row-count-drop"]
        assert "170 rows, 15.0% fewer than the 200" in report.holds[0].message


def test_too_many_rejected_rows_hold_and_their_people_stay(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)

        def break_dates(rows):
            for r in rows[100:120]:
                r["Hire Date"] = "2026-11-24"  # not the declared %d/%m/%Y
            by_id(rows, "001009")["Job Title"] = "Lead"  # something to apply

        report = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_dates.csv", break_dates))
        assert report.state == "held" and report.holds[0].code == "too-many-rejected"
        forced = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_dates.csv", break_dates),
                       force=True, replay=True)
        assert forced.state == "applied" and forced.counts["deactivate"] == 0


def test_undo_restores_exactly_what_the_run_changed(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        before = {r.employee_id: r for r in ctx.store.users("acme").itertuples()}
        night2 = apply(ctx, NIGHT2)
        undone = undo(ctx, night2.run_id, force=True)  # 11 deactivations pass the brakes
        assert undone.state == "applied" and undone.refused == [] and undone.exit_code == 0
        after = {r.employee_id: r for r in ctx.store.users("acme").itertuples()}
        for eid, old in before.items():
            assert (after[eid].job_title, after[eid].last_name, after[eid].department,
                    after[eid].active) == (old.job_title, old.last_name, old.department,
                                           old.active), eid
        created = set(after) - set(before)
        assert len(created) == 11 and not any(after[e].active for e in created)
        run = ctx.ledger.get_run(undone.run_id)
        assert (run.kind, run.about_run, run.state) == ("undo", night2.run_id, "applied")
        redo = undo(ctx, undone.run_id)  # an undo is a run like any other
        assert redo.state == "applied" and person(ctx, "001010")["job_title"] == "Staff Engineer"


def test_undo_refuses_what_a_later_run_changed(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        night2 = apply(ctx, NIGHT2)
        apply(ctx, DELTA)  # changes 001010's job title again and rehires 001020
        report = undo(ctx, night2.run_id, force=True)
        refused = {(r.employee_id, r.action, r.field): r.reason
                   for r in report.refused}
        later = ctx.ledger.runs("acme", limit=1)[0].id - 1
        assert refused[("001010", "update", "job_title")] == f"run {later} changed it later"
        assert ("001020", "deactivate", "") in refused
        assert report.exit_code == 1
        assert person(ctx, "001010")["job_title"] == "Principal Engineer"
        assert person(ctx, "001013")["last_name"] == by_id(read_rows(NIGHT1), "001013")[
            "Last Name"]


def test_undo_refuses_a_value_changed_by_hand(tmp_path):
    import sqlalchemy as sa

    from filebridge.lms.schema import users
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        night2 = apply(ctx, NIGHT2)
        with ctx.store.engine.begin() as tx:
            tx.execute(sa.update(users).where(users.c.employee_id == "001010")
                       .values(job_title="Edited In LMS"))
        report = undo(ctx, night2.run_id)
        assert any(r.employee_id == "001010" and "outside filebridge" in r.reason
                   for r in report.refused)
        assert person(ctx, "001010")["job_title"] == "Edited In LMS"




def test_an_old_file_after_a_newer_one_is_stale(tmp_path):
    with workspace(tmp_path, "    thresholds: {rejected_percent: 5}\n",
                   mapping=_dated) as ctx:
        apply(ctx, NIGHT1)
        second = apply(ctx, NIGHT2)
        assert second.export_time == "2026-11-25T00:00:00+00:00"
        old = tmp_path / "acme_employees_2026-11-24.csv"
        old.write_bytes(NIGHT1.read_bytes().replace(b"Emma,Berg", b"Emma,Bergh"))
        stale = apply(ctx, old)
        assert stale.state == "held"
        hold = next(h for h in stale.holds if h.code == "stale-file")
        assert "2026-11-24" in hold.message and "2026-11-25" in hold.message
        assert "acme_employees_2026-11-25.csv" in hold.message
        forced = apply(ctx, old, force=True, replay=True)
        assert forced.state == "applied"


def test_plan_json_names_holds_and_skipped_rows(tmp_path, capsys):
    import json

    from filebridge.cli.main import main
    settings = tmp_path / "settings.yaml"
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
    part = variant(NIGHT2, tmp_path / "acme_employees_sales.csv", _sales_only)
    code = main(["plan", "acme", str(part), "--json", "--settings", str(settings)])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert "too-many-deactivate" in [h["code"] for h in data["holds"]]
    assert isinstance(data["plan"]["skipped"], list) and data["counts"]["skipped"] >= 0
    code = main(["plan", "acme", str(NIGHT2), "--settings", str(settings)])
    text = capsys.readouterr().out
    assert "Skipped rows" not in text  # a row without a work email is rejected, not skipped
    assert ":16: Work Email: required field email is blank" in text
    main(["apply", "acme", str(part), "--settings", str(settings)])
    out = capsys.readouterr().out
    assert "`filebridge approve " in out and "`filebridge discard " in out


def test_a_delta_of_active_people_reactivates_nobody(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        report = plan(ctx, DELTA)
        assert report.counts["reactivate"] == 0


def _dated(text: str) -> str:
    """The sample mapping already declares export_time (from the file name); keep it."""
    assert "export_time:" in text
    return text
