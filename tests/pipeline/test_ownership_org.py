"""Ownership (managed_by, link, lms_owned), blank cells, departments and job titles."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from filebridge.advice import problem_advice
from filebridge.lms.schema import departments, users
from filebridge.pipeline.lifecycle import link
from tests.pipeline.conftest import NIGHT1, NIGHT2
from tests.pipeline.files import apply, by_id, person, plan, read_rows, variant
from tests.pipeline.lifecycle_ws import workspace

# Night 1 has 3% bad rows on purpose; re-applying its variants needs a looser brake.
LOOSE = "    thresholds: {rejected_percent: 5}\n"


def _hand_made_user(ctx, employee_id: str, email: str) -> None:
    now = datetime.now(UTC)
    with ctx.store.engine.begin() as tx:
        tx.execute(users.insert().values(managed_by=None, employee_id=employee_id, email=email,
                                         first_name="Hand", last_name="Made", created_at=now,
                                         updated_at=now))


def test_unmanaged_users_are_never_touched_and_link_adopts_them(tmp_path):
    with workspace(tmp_path, LOOSE) as ctx:
        address = by_id(read_rows(NIGHT1), "001005")["Work Email"]
        _hand_made_user(ctx, "LMS-77", address)
        _hand_made_user(ctx, "001006", "elsewhere@other.example")
        first = apply(ctx, NIGHT1)
        clash = next(p for p in first.problems if p.code == "email-in-use")
        assert "LMS-77 (not managed)" in clash.message
        assert "`filebridge link CONNECTION FILE`" in problem_advice(clash.code)
        hand = ctx.store.users(None).query("managed_by.isnull()")
        assert sorted(hand["first_name"]) == ["Hand", "Hand"]  # neither was changed

        listed = link(ctx, "acme", NIGHT1, "email", confirm=lambda report: False)
        assert listed.state == "planned"
        assert [(a.lms_employee_id, a.employee_id, a.note)
                for a in listed.plan.adoptions] == [("LMS-77", "001005", "")]
        adopted = link(ctx, "acme", NIGHT1, "email")
        assert adopted.state == "applied" and adopted.counts["adopt"] == 1
        after = apply(ctx, NIGHT1, replay=True)
        assert [u.field for u in after.plan.updates if u.employee_id == "001005"]
        assert person(ctx, "001005")["first_name"] == by_id(read_rows(NIGHT1), "001005")[
            "First Name"]
        assert ctx.store.users(None).query("managed_by.isnull()")["employee_id"].tolist() == [
            "001006"]


def test_lms_owned_fields_are_set_at_creation_only(tmp_path):
    owned = "  job_title:\n    column: Job Title\n    lms_owned: true\n"
    with workspace(tmp_path, mapping=lambda text: text.replace(
            "  job_title:\n    column: Job Title\n", owned)) as ctx:
        apply(ctx, NIGHT1)
        assert person(ctx, "001010")["job_title"] == by_id(read_rows(NIGHT1), "001010")[
            "Job Title"]
        report = apply(ctx, NIGHT2)
        assert not [u for u in report.plan.updates if u.field == "job_title"]
        assert person(ctx, "001010")["job_title"] != "Staff Engineer"
        assert plan(ctx, NIGHT2).plan.updates == ()


def test_blank_cells_keep_unless_the_field_says_clear(tmp_path):
    with workspace(tmp_path, LOOSE) as ctx:
        apply(ctx, NIGHT1)

        def blanks(rows):
            by_id(rows, "001009")["Job Title"] = ""  # empty: keep (default)
            leaver = by_id(rows, "001008")
            leaver.update({"Status": "T", "Termination Date": "01/12/2026"})

        path = variant(NIGHT1, tmp_path / "acme_employees_blank.csv", blanks)
        report = apply(ctx, path)
        assert not [u for u in report.plan.updates if u.employee_id == "001009"]
        assert person(ctx, "001009")["job_title"] != ""
        assert person(ctx, "001008")["termination_date"] == "2026-12-01"

        def rehire(rows):
            by_id(rows, "001009")["Job Title"] = ""

        back = variant(NIGHT1, tmp_path / "acme_employees_back.csv", rehire)
        apply(ctx, back)
        assert person(ctx, "001008")["termination_date"] == ""  # empty: clear


def _departments(ctx) -> dict[str, tuple[str, str, str | None]]:
    with ctx.store.engine.connect() as conn:
        return {r.code: (r.name, r.parent_code, r.managed_by) for r in conn.execute(
            sa.select(departments))}


def test_departments_are_created_renamed_and_removed_when_unused(tmp_path):
    block = "    thresholds: {deactivate: {percent: 50, count: 100}, rejected_percent: 5}\n"
    with workspace(tmp_path, block) as ctx:
        apply(ctx, NIGHT1)
        assert _departments(ctx)["HR"] == ("People & Culture", "", "acme")

        def rename(rows):
            for r in rows:
                if r["Dept Code"].upper() == "HR":
                    r["Department"] = "People"

        renamed = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_r.csv", rename))
        assert {(o.code, o.action, o.old_name, o.name) for o in renamed.plan.org
                } == {("HR", "update", "People & Culture", "People")}
        assert _departments(ctx)["HR"][0] == "People"

        def no_finance(rows):
            return [r for r in rows if r["Dept Code"].upper() != "FIN"]

        report = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_nofin.csv", no_finance),
                       force=True)
        removed = [o for o in report.plan.org if o.action == "remove"]
        assert [(o.kind, o.code) for o in removed] == [("department", "FIN"),
                                                             ("job_title", "Accountant")]
        assert "FIN" not in _departments(ctx)
        assert report.counts["departments_removed"] == 1


def test_department_removal_waits_while_a_rejected_row_keeps_it(tmp_path):
    with workspace(tmp_path, "    thresholds: {rejected_percent: 50}\n") as ctx:
        apply(ctx, NIGHT1)
        fin = [r["Employee ID"] for r in read_rows(NIGHT1) if r["Dept Code"].upper() == "FIN"]

        def all_fin_rows_bad(rows):
            for r in rows:
                if r["Employee ID"] in fin:
                    r["Hire Date"] = "2026-13-45"  # rejected: keeps its stored department

        report = plan(ctx, variant(NIGHT1, tmp_path / "acme_employees_bad.csv",
                                   all_fin_rows_bad))
        assert not [o for o in report.plan.org if o.action == "remove"]


def test_parent_departments_and_cycles(tmp_path):
    parent = "  parent_department_code:\n    column: Parent Code\n    transform: [trim, upper]\n"
    with workspace(tmp_path, mapping=lambda text: text.replace("  location:\n",
                                                               parent + "  location:\n")) as ctx:
        parents = {"ENG": "RD", "RD": "OPS", "SAL": "OPS", "HR": "OPS", "FIN": "OPS", "OPS": ""}

        def with_parents(rows):
            for r in rows:
                r["Parent Code"] = parents[r["Dept Code"].upper()]

        rows = read_rows(NIGHT1)
        header = [*rows[0], "Parent Code"]
        with_parents(rows)
        from tests.pipeline.files import write_rows
        tree = write_rows(tmp_path / "acme_employees_tree.csv", rows, header)
        report = apply(ctx, tree)
        assert report.state == "applied"
        assert _departments(ctx)["ENG"][1] == "RD" and _departments(ctx)["OPS"][1] == ""
        for r in rows:
            if r["Dept Code"].upper() == "OPS":
                r["Parent Code"] = "ENG"  # OPS → ENG → RD → OPS
        loop = write_rows(tmp_path / "acme_employees_loop.csv", rows, header)
        bad = apply(ctx, loop)
        assert bad.state == "rejected" and bad.exit_code == 2
        cycle = next(p for p in bad.problems if p.code == "department-cycle")
        assert set(cycle.message.removeprefix("department cycle ").split(" → ")) == {
            "OPS", "ENG", "RD"}
        assert _departments(ctx)["OPS"][1] == ""  # nothing applied


def test_managers_resolve_whatever_the_row_order(tmp_path):
    with workspace(tmp_path) as ctx:
        reversed_file = variant(NIGHT1, tmp_path / "acme_employees_rev.csv",
                                lambda rows: list(reversed(rows)))
        report = apply(ctx, reversed_file)
        assert not [p for p in report.problems if p.code == "unknown-manager"]
        assert report.counts["create"] == 194
