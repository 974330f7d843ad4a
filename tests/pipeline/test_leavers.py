"""Leavers, rehires, missing emails, filters and email clashes on the sample exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from filebridge.lms.schema import users
from filebridge.plan.summary import Rekey
from tests.pipeline.conftest import DELTA, NIGHT1, NIGHT2
from tests.pipeline.files import apply, by_id, person, plan, read_rows, variant
from tests.pipeline.lifecycle_ws import workspace

OPEN = "    thresholds: {deactivate: {percent: 50}, delete: {percent: 50}}\n"


def test_default_leavers_are_deactivated_and_keep_their_account(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        report = apply(ctx, NIGHT2)
        assert {d.employee_id for d in report.plan.deactivations} == {
            "001020", "001030", "001031"}
        gone = person(ctx, "001030")
        assert not gone["active"] and gone["deactivated_at"] is not None
        assert gone["email"] == "noah.nguyen30@acme.example"  # account and data kept


def test_leavers_ignore_leaves_them_alone(tmp_path):
    with workspace(tmp_path, "    policies: {leavers: ignore}\n") as ctx:
        apply(ctx, NIGHT1)
        report = apply(ctx, NIGHT2)
        assert report.counts["deactivate"] == 0 and report.counts["delete"] == 0
        assert bool(person(ctx, "001030")["active"])
        assert plan(ctx, NIGHT2).counts["create"] == 0


def test_leavers_delete_at_once(tmp_path):
    with workspace(tmp_path, "    policies: {leavers: delete}\n" + OPEN) as ctx:
        apply(ctx, NIGHT1)
        report = apply(ctx, NIGHT2)
        assert sorted(d.employee_id for d in report.plan.deletes) == [
            "001020", "001030", "001031"]
        assert report.counts["delete"] == 3 and report.counts["deactivate"] == 0
        assert "001030" not in set(ctx.store.users("acme")["employee_id"])
        again = plan(ctx, NIGHT2)
        assert again.counts["delete"] == 0 and again.counts["create"] == 0


def test_leavers_delete_after_the_grace_period(tmp_path):
    block = "    policies: {leavers: delete, delete_grace_days: 30}\n" + OPEN
    with workspace(tmp_path, block) as ctx:
        apply(ctx, NIGHT1)
        first = apply(ctx, NIGHT2)
        assert first.counts["deactivate"] == 3 and first.counts["delete"] == 0
        soon = plan(ctx, NIGHT2)
        assert soon.plan.deletes == ()
        later = datetime.now(UTC) + timedelta(days=31)
        from filebridge.pipeline.importer import RunOptions, run_import
        report = run_import(ctx, "acme", NIGHT2, RunOptions("apply", replay=True),
                            now=lambda: later)
        assert sorted(d.employee_id for d in report.plan.deletes) == [
            "001020", "001030", "001031"]
        assert report.plan.deletes[0].reason == "deactivated more than 30 days ago"


def test_rehire_by_employee_id_reactivates_the_same_account(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        apply(ctx, NIGHT2)
        before = ctx.store.users("acme").set_index("employee_id").loc["001020"]
        report = apply(ctx, DELTA)
        assert [r.employee_id for r in report.plan.reactivations] == ["001020"]
        after = person(ctx, "001020")
        assert after["active"] and after["created_at"] == before["created_at"]


def _returns_with_new_id(tmp_path, rows):
    back = dict(by_id(read_rows(NIGHT1), "001030"))
    back["Employee ID"] = "009030"
    rows.append(back)


def test_rehire_under_a_new_id_matched_on_email(tmp_path):
    block = "    policies: {rehire_match: employee_id_or_email}\n"
    with workspace(tmp_path, block) as ctx:
        apply(ctx, NIGHT1)
        apply(ctx, NIGHT2)
        with ctx.store.engine.connect() as conn:
            old_row_id = conn.scalar(sa.select(users.c.id).where(users.c.employee_id == "001030"))
        back = variant(NIGHT2, tmp_path / "acme_employees_back.csv",
                       lambda rows: _returns_with_new_id(tmp_path, rows))
        report = apply(ctx, back)
        assert report.plan.rekeys == (Rekey(employee_id="009030", old_employee_id="001030",
                                            line=205),)
        assert report.counts["create"] == 0 and report.counts["reactivate"] == 1
        with ctx.store.engine.connect() as conn:
            row = conn.execute(sa.select(users.c.id, users.c.active)
                               .where(users.c.employee_id == "009030")).one()
        assert row == (old_row_id, True)  # same account, learning history attached
        assert plan(ctx, back).plan.rekeys == ()


def test_without_email_matching_a_new_id_is_a_new_account(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        apply(ctx, NIGHT2)
        back = variant(NIGHT2, tmp_path / "acme_employees_back.csv",
                       lambda rows: _returns_with_new_id(tmp_path, rows))
        report = apply(ctx, back)
        assert report.counts["create"] == 1 and not report.plan.rekeys


def test_same_email_as_an_active_person_is_a_row_error_never_a_merge(tmp_path):
    with workspace(tmp_path, "    policies: {rehire_match: employee_id_or_email}\n") as ctx:
        apply(ctx, NIGHT1)

        def clash(rows):
            twin = dict(by_id(rows, "001005"))
            twin.update({"Employee ID": "009005", "First Name": "Other"})
            return [twin]

        path = variant(NIGHT1, tmp_path / "acme_delta_clash.csv", clash)
        report = apply(ctx, path)
        problem = next(p for p in report.problems if p.code == "email-in-use")
        assert problem.line == 2 and problem.column == "Work Email"
        assert "001005" in problem.message
        assert report.counts["create"] == 0
        assert "009005" not in set(ctx.store.users("acme")["employee_id"])


def test_email_change_onto_someone_elses_address_is_rejected(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)

        def steal(rows):
            by_id(rows, "001007")["Work Email"] = by_id(rows, "001008")["Work Email"].upper()
            by_id(rows, "001008")["Work Email"] = "fresh.address8@acme.example"

        swapped = variant(NIGHT1, tmp_path / "acme_employees_swap.csv", steal)
        # 001008 moves away from the address in the same file: no clash.
        report = plan(ctx, swapped)
        assert not [p for p in report.problems if p.code == "email-in-use"]

        def take(rows):
            mover = by_id(rows, "001007")
            mover["Work Email"] = by_id(rows, "001008")["Work Email"]
            return [mover]

        # A delta: 001008 keeps the address, so 001007 cannot take it.
        delta = variant(NIGHT1, tmp_path / "acme_delta_take.csv", take)
        report = apply(ctx, delta)
        problem = next(p for p in report.problems if p.code == "email-in-use")
        assert problem.value == by_id(read_rows(NIGHT1), "001008")["Work Email"]
        assert report.counts["update"] == 0
        assert person(ctx, "001007")["email"] == by_id(read_rows(NIGHT1), "001007")["Work Email"]


def test_missing_email_is_rejected_once_and_not_a_leaver(tmp_path):
    """One row, one outcome: a row without a work email is rejected (with its line, in the
    reject file, exit 1), not also counted as skipped; its person is no leaver."""
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        report = plan(ctx, NIGHT2)
        [missing] = [p for p in report.problems if p.code == "missing-email"]
        assert (missing.line, missing.column) == (16, "Work Email")
        assert report.counts["rejected"] == report.rejected_rows >= 1
        assert not [s for s in report.plan.skipped if s.employee_id == "001014"]
        assert report.counts["skipped"] == len(report.plan.skipped)
        assert "001014" not in {d.employee_id for d in report.plan.deactivations}


def test_filters_skip_rows_and_make_filtered_managed_people_leavers(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
    block = ("    policies: {include: {employee_types: [full-time, part-time]}}\n"
             "    thresholds: {deactivate: {percent: 50, count: 100}}\n")
    with workspace(tmp_path, block) as ctx:
        report = plan(ctx, NIGHT1)
        contractors = [s for s in report.plan.skipped if s.reason == "filtered-out"]
        assert contractors and all(s.message == "employee type 'contractor' not included"
                                   for s in contractors)
        leavers = {d.employee_id: d for d in report.plan.deactivations}
        some = contractors[0]
        if some.employee_id in leavers:
            assert leavers[some.employee_id].reason.startswith(
                "outside the include filter: employee type")
            assert leavers[some.employee_id].line == some.line
        assert set(leavers) <= {s.employee_id for s in contractors}


def test_email_domain_filter_in_a_delta_only_ignores(tmp_path):
    block = "    policies: {include: {email_domains: [acme.example]}}\n"
    with workspace(tmp_path, block) as ctx:
        apply(ctx, NIGHT1)

        def outsider(rows):
            rows[0]["Work Email"] = "someone@partner.example"
            rows[0]["Employee ID"] = "005555"

        delta = variant(DELTA, tmp_path / "acme_delta_2026-11-27.csv", outsider)
        report = plan(ctx, delta)
        assert report.plan.skipped[0].message == "email domain 'partner.example' not included"
        assert report.counts["deactivate"] == 0
