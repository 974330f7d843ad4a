"""Migrations for the lifecycle: ledger 0005 (approved runs, about_run) and store 0003
(delete/adopt journal actions, org ownership), each on a database made by the old code."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.ledger import Ledger
from filebridge.ledger.schema import runs
from filebridge.lms import SqlStore
from filebridge.lms.schema import changes
from filebridge.sql import rebuild_table

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)

OLD_KINDS = "('import', 'export', 'replay', 'approve', 'undo')"
OLD_STATES = ("('running', 'planned', 'held', 'applied', 'rejected', 'failed', 'noop', "
              "'discarded')")


def _old_runs() -> sa.Table:
    """``runs`` as migration 0001 created it before 0005."""
    meta = sa.MetaData()
    columns = [c._copy() for c in runs.columns if c.name != "about_run"]
    return sa.Table("runs", meta, *columns,
                    sa.CheckConstraint(f"kind IN {OLD_KINDS}", name="ck_runs_kind"),
                    sa.CheckConstraint("mode IN ('plan', 'apply')", name="ck_runs_mode"),
                    sa.CheckConstraint(f"state IN {OLD_STATES}", name="ck_runs_state"))


def test_0005_rebuilds_runs_of_an_older_ledger(engine: Engine) -> None:
    ledger = Ledger(engine)
    file = ledger.record_file("acme", "hr.csv", "ab" * 32, 10, "/spool/1", NOW)
    held = ledger.start_run("acme", "import", "apply", file.id, NOW)
    ledger.finish_run(held, "held", {"deactivate": 80}, {"holds": []}, None, NOW)
    with engine.begin() as tx:
        rebuild_table(tx, _old_runs())
        tx.execute(sa.text("DELETE FROM schema_migrations WHERE name = '0005_run_approvals'"))
    with engine.begin() as tx, pytest.raises(sa.exc.IntegrityError):
        tx.execute(sa.text("UPDATE runs SET state = 'approved'"))
    assert ledger.migrate() == ["0005_run_approvals"]
    assert ledger.migrate() == []
    run = ledger.get_run(held)
    assert (run.state, run.counts, run.about_run) == ("held", {"deactivate": 80}, None)
    approving = ledger.start_run("acme", "approve", "apply", file.id, NOW, about_run=held)
    ledger.set_run_state(held, "approved")
    assert ledger.get_run(held).state == "approved"
    assert ledger.get_run(approving).about_run == held
    names = {i["name"] for i in sa.inspect(engine).get_indexes("runs")}
    assert names == {"ix_runs_connection", "ix_runs_state"}
    db = engine.url.database
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_0003_gives_an_older_store_delete_and_adopt(engine: Engine) -> None:
    store = SqlStore(engine)
    old_changes = sa.Table("changes", sa.MetaData(), *[c._copy() for c in changes.columns],
                           sa.CheckConstraint("action IN ('create', 'update', 'deactivate', "
                                              "'reactivate')", name="ck_changes_action"))
    with engine.begin() as tx:
        tx.execute(changes.insert().values(connection="acme", employee_id="1", action="create",
                                           at=NOW))
        rebuild_table(tx, old_changes)
        tx.execute(sa.text("DROP INDEX ix_users_email"))
        # The org tables as 0001 made them then: no owner, codes unique store-wide.
        tx.execute(sa.text("DROP TABLE departments"))
        tx.execute(sa.text("DROP TABLE job_titles"))
        tx.execute(sa.text("CREATE TABLE departments (id INTEGER PRIMARY KEY, code TEXT NOT "
                           "NULL UNIQUE, name TEXT NOT NULL DEFAULT '', parent_code TEXT NOT "
                           "NULL DEFAULT '', created_at DATETIME NOT NULL)"))
        tx.execute(sa.text("CREATE TABLE job_titles (id INTEGER PRIMARY KEY, "
                           "name TEXT NOT NULL UNIQUE)"))
        tx.execute(sa.text("DELETE FROM schema_migrations WHERE name IN "
                           "('0003_lifecycle', '0009_org_per_connection')"))
    assert store.migrate() == ["0003_lifecycle", "0009_org_per_connection"]
    with engine.begin() as tx:
        tx.execute(changes.insert().values(connection="acme", employee_id="1", action="delete",
                                           at=NOW))
        assert tx.scalar(sa.select(sa.func.count()).select_from(changes)) == 2
    inspector = sa.inspect(engine)
    assert "ix_users_email" in {i["name"] for i in inspector.get_indexes("users")}
    assert "managed_by" in {c["name"] for c in inspector.get_columns("departments")}


def test_0004_gives_an_older_store_the_snapshot_index(engine: Engine) -> None:
    """The nightly snapshot read is served from the covering index, old store or new."""
    store = SqlStore(engine)
    with engine.begin() as tx:
        tx.execute(sa.text("DROP INDEX ix_users_snapshot"))
        tx.execute(sa.text("DELETE FROM schema_migrations WHERE name = '0004_snapshot_index'"))
    assert store.migrate() == ["0004_snapshot_index"]
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT employee_id, fingerprint, active FROM users "
            "WHERE managed_by = 'acme'").fetchall()
    assert "COVERING INDEX ix_users_snapshot" in " ".join(str(r[-1]) for r in plan)
