"""Field ownership and drift in the built-in store: a field changed straight in the store's
database (outside filebridge) is shown by the next plan as drift and put back by its
apply; LMS-owned fields are the LMS's to change."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from filebridge.config.errors import ConfigError
from filebridge.lms.schema import changes, user_drift
from filebridge.pipeline.context import Context
from tests.pipeline.conftest import NIGHT1, NIGHT2
from tests.pipeline.files import apply, by_id, person, plan, read_rows, variant
from tests.pipeline.lifecycle_ws import workspace

LOOSE = "    thresholds: {rejected_percent: 5}\n"


def outside_update(ctx: Context, sql: str, *params: str) -> None:
    """Change the store the way an LMS admin's script would: its own database connection."""
    database = ctx.store.engine.url.database
    assert database
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(sql, params)


def marks(ctx: Context) -> list[tuple[int, str, str]]:
    with ctx.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(
            user_drift.c.user_id, user_drift.c.field, user_drift.c.written))]


def test_a_direct_database_change_is_drift_and_the_apply_puts_it_back(tmp_path):
    with workspace(tmp_path, LOOSE) as ctx:
        apply(ctx, NIGHT1)
        assert marks(ctx) == []  # filebridge's own writes are never drift
        title = by_id(read_rows(NIGHT1), "001010")["Job Title"]
        outside_update(ctx, "UPDATE users SET job_title = ? WHERE employee_id = ?",
                       "Chief Tinkerer", "001010")
        outside_update(ctx, "INSERT OR REPLACE INTO user_attributes (user_id, name, value) "
                       "SELECT id, 'cost_center', 'CC-HAND' FROM users WHERE employee_id = ?",
                       "001011")

        planned = plan(ctx, NIGHT1)
        drift = {(d.employee_id, d.field): (d.lms, d.new) for d in planned.plan.drift}
        cost = by_id(read_rows(NIGHT1), "001011")["Cost Center"]
        assert drift == {("001010", "job_title"): ("Chief Tinkerer", title),
                         ("001011", "custom.cost_center"): ("CC-HAND", cost)}
        assert planned.plan.updates == ()  # HR changed nothing: drift is listed apart
        assert planned.counts["drift"] == 2 and planned.counts["update"] == 0
        listed = planned.to_dict()["plan"]["drift"]
        assert {"employee_id", "field", "lms", "new", "line"} == set(listed[0])

        fixed = apply(ctx, NIGHT1, replay=True)
        assert fixed.state == "applied" and fixed.counts["drift"] == 2
        assert person(ctx, "001010")["job_title"] == title
        assert marks(ctx) == []
        with ctx.store.engine.connect() as conn:
            journal = conn.execute(sa.select(changes.c.employee_id, changes.c.field,
                                             changes.c.old, changes.c.new)
                                   .where(changes.c.reason == "drift")
                                   .order_by(changes.c.employee_id)).all()
        assert [tuple(r) for r in journal] == [
            ("001010", "job_title", "Chief Tinkerer", title),
            ("001011", "custom.cost_center", "CC-HAND", cost)]
        again = plan(ctx, NIGHT1)
        assert again.plan.drift == () and again.plan.updates == ()


def test_when_hr_changes_the_drifted_field_too_the_file_wins_as_an_hr_change(tmp_path):
    with workspace(tmp_path, LOOSE) as ctx:
        apply(ctx, NIGHT1)
        outside_update(ctx, "UPDATE users SET job_title = 'Hand Edit' WHERE employee_id = ?",
                       "001010")

        def promote(rows):
            by_id(rows, "001010")["Job Title"] = "Staff Engineer"

        path = variant(NIGHT1, tmp_path / "acme_employees_promoted.csv", promote)
        report = apply(ctx, path)
        assert [(u.employee_id, u.field, u.old, u.new) for u in report.plan.updates] == [
            ("001010", "job_title", "Hand Edit", "Staff Engineer")]
        assert report.plan.drift == ()
        assert person(ctx, "001010")["job_title"] == "Staff Engineer"
        assert marks(ctx) == []


def test_lms_owned_fields_may_change_in_the_lms_without_drift(tmp_path):
    owned = "  job_title:\n    column: Job Title\n    owner: lms\n"
    with workspace(tmp_path, LOOSE, mapping=lambda text: text.replace(
            "  job_title:\n    column: Job Title\n", owned)) as ctx:
        apply(ctx, NIGHT1)
        outside_update(ctx, "UPDATE users SET job_title = 'Hand Edit' WHERE employee_id = ?",
                       "001010")
        planned = plan(ctx, NIGHT1)
        assert planned.plan.drift == () and planned.plan.updates == ()
        apply(ctx, NIGHT2)
        assert person(ctx, "001010")["job_title"] == "Hand Edit"


def test_the_first_outside_change_keeps_what_filebridge_wrote(tmp_path):
    with workspace(tmp_path, LOOSE) as ctx:
        apply(ctx, NIGHT1)
        phone = person(ctx, "001010")["phone"]
        outside_update(ctx, "UPDATE users SET phone = '+1 555 0000' WHERE employee_id = ?",
                       "001010")
        outside_update(ctx, "UPDATE users SET phone = '+1 555 1111' WHERE employee_id = ?",
                       "001010")
        [(_, field, written)] = marks(ctx)
        assert (field, written) == ("phone", phone)
        report = apply(ctx, NIGHT2)
        assert ("001010", "phone") in {(d.employee_id, d.field) for d in report.plan.drift}
        assert marks(ctx) == []


def test_lms_owned_is_the_deprecated_spelling_of_owner_lms(tmp_path):
    both = "  job_title:\n    column: Job Title\n    owner: hr\n    lms_owned: true\n"
    with pytest.raises(ConfigError) as caught, workspace(tmp_path, mapping=lambda text: (
            text.replace("  job_title:\n    column: Job Title\n", both))) as ctx:
        apply(ctx, NIGHT1)
    assert "fields.job_title.lms_owned" in str(caught.value)
    assert "owner: lms" in str(caught.value)


def test_the_employee_id_cannot_be_lms_owned(tmp_path):
    with pytest.raises(ConfigError) as caught, workspace(tmp_path, mapping=lambda text: (
            text.replace("    column: Employee ID\n", "    column: Employee ID\n"
                         "    owner: lms\n"))) as ctx:
        apply(ctx, NIGHT1)
    assert "fields.employee_id.owner" in str(caught.value)
    assert "HR owns it" in str(caught.value)
