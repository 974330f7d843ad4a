"""Managers named by work email: found in the file, else in the LMS (delta files)."""

from __future__ import annotations

from datetime import UTC, datetime

from filebridge.lms.lifecycle import manager_ids_by_email
from filebridge.lms.schema import users
from tests.pipeline.conftest import DELTA, NIGHT1
from tests.pipeline.files import apply, plan, read_rows, write_rows
from tests.pipeline.lifecycle_ws import workspace

LOOSE = "    thresholds: {rejected_percent: 5}\n"


def _by_email(text: str) -> str:
    return text.replace("  manager_id:\n    column: Manager ID\n",
                        "  manager_email:\n    column: Manager Email\n")


def _with_manager_emails(rows, emails):
    out = []
    for row in rows:
        row = dict(row)
        row["Manager Email"] = emails.get(row.pop("Manager ID"), "")
        out.append(row)
    return out


def test_a_delta_file_names_managers_who_are_only_in_the_lms(tmp_path):
    night = read_rows(NIGHT1)
    emails = {r["Employee ID"]: r["Work Email"] for r in night}
    with workspace(tmp_path, LOOSE, mapping=_by_email) as ctx:
        first = write_rows(tmp_path / "acme_employees_2026-11-24.csv",
                           _with_manager_emails(night, emails))
        assert apply(ctx, first).state == "applied"
        # The delta lists two people; their managers (001003, 001005) are not in it.
        delta = read_rows(DELTA)
        path = write_rows(tmp_path / "acme_delta_2026-11-26.csv",
                          _with_manager_emails(delta, emails))
        report = apply(ctx, path)
        assert report.state == "applied", report.problems
        assert not [p for p in report.problems if p.code == "unknown-manager"]
        stored = ctx.store.users("acme").set_index("employee_id")["manager_id"]
        assert stored["001020"] == "001003" and stored["001010"] == "001005"
        again = plan(ctx, path)  # the resolved ids are kept in step: nothing left to do
        assert again.counts["create"] == again.counts["update"] == 0
        # An address nobody has is still a row error naming the file's column.
        ghost = [dict(delta[0], **{"Manager ID": "nobody"})]
        path = write_rows(tmp_path / "acme_delta_2026-11-27.csv",
                          _with_manager_emails(ghost, {"nobody": "ghost@acme.example"}))
        report = apply(ctx, path, force=True)
        problem = next(p for p in report.problems if p.code == "unknown-manager")
        assert problem.column == "Manager Email" and problem.value == "ghost@acme.example"


def test_an_address_resolves_only_to_one_person(tmp_path):
    now = datetime.now(UTC)
    with workspace(tmp_path) as ctx:
        with ctx.store.engine.begin() as tx:
            for managed_by, eid, email, active in [
                    ("acme", "A1", "pat@x.io", True), (None, "U1", "pat@x.io", True),
                    ("hr2", "B1", "sam@x.io", True), (None, "U2", "sam@x.io", True),
                    ("acme", "A2", "old@x.io", False), (None, "U3", "old@x.io", True),
                    ("acme", "A3", "lee@x.io", False), ("acme", "A4", "lee@x.io", True)]:
                tx.execute(users.insert().values(
                    managed_by=managed_by, employee_id=eid, email=email, active=active,
                    created_at=now, updated_at=now))
        found = manager_ids_by_email(ctx.store.engine, "acme",
                                     ["pat@x.io", "sam@x.io", "old@x.io", "lee@x.io", "no@x.io"])
        # This connection's account wins; then active over deactivated; two other
        # people at the same rank (sam) are ambiguous and left out.
        assert found == {"pat@x.io": "A1", "old@x.io": "A2", "lee@x.io": "A4"}
