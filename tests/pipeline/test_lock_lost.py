"""A run whose connection lock is lost while it plans stops before its apply commits.

On PostgreSQL the lock is an advisory lock of a session of its own; when that session
dies (here: ``pg_terminate_backend``, as a database admin or a restarted pooler would),
another daemon can take the connection at once, so the run must not commit. It fails
transiently with ``lock-lost``, nothing is applied, and the next run works.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from filebridge.explain import explain
from filebridge.ledger.locks import LockLost
from filebridge.ledger.schema import locks
from filebridge.pipeline.context import open_context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.pipeline.report import RunReport
from tests.conftest import PostgresServer
from tests.pipeline.conftest import NIGHT1, write_workspace


def _terminate_lock_session(server: PostgresServer, database: str) -> int:
    name = f"filebridge locks {socket.gethostname()}:{os.getpid()}"[:63]
    admin = sa.create_engine(server.url(database))
    try:
        with admin.begin() as conn:
            return len(conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"), {"name": name}).all())
    finally:
        admin.dispose()


def _check_stopped(ctx, error: LockLost) -> None:
    [run] = ctx.ledger.runs("acme", with_report=True)
    assert run.state == "failed" and run.error is not None
    assert run.error["code"] == "lock-lost" and run.error["transient"] is True
    assert ctx.store.users("acme").empty  # nothing was applied
    assert "was lost" in str(error) and "stopped before committing anything" in str(error)
    assert explain(error).exit_code == 3


@pytest.mark.postgres
def test_a_lost_postgres_lock_session_stops_the_run_before_it_commits(
        tmp_path: Path, postgres: PostgresServer) -> None:
    from tests.pipeline.test_postgres import pg_workspace
    database = postgres.create_database()
    settings = pg_workspace(tmp_path / "ws", postgres, database)
    killed: list[int] = []

    def lose_the_lock(report: RunReport) -> bool:  # asked while the lock is held
        killed.append(_terminate_lock_session(postgres, database))
        return True

    ctx = open_context(settings)
    try:
        with pytest.raises(LockLost) as lost:
            run_import(ctx, "acme", NIGHT1, RunOptions("apply", confirm=lose_the_lock))
        assert killed == [1]
        _check_stopped(ctx, lost.value)
        again = run_import(ctx, "acme", NIGHT1, RunOptions("apply"))  # a new lock session
        assert again.state == "applied" and again.counts["create"] == 194
    finally:
        ctx.close()


def test_a_lock_row_taken_by_someone_else_stops_the_run_on_sqlite(tmp_path: Path) -> None:
    ctx = open_context(write_workspace(tmp_path / "ws"))

    def taken_over(report: RunReport) -> bool:  # e.g. `unlock` by someone who judged wrong
        with ctx.ledger.engine.begin() as tx:
            tx.execute(locks.update().where(locks.c.connection == "acme")
                       .values(holder="otherhost:4242:1:boot"))
        return True

    try:
        with pytest.raises(LockLost) as lost:
            run_import(ctx, "acme", NIGHT1, RunOptions("apply", confirm=taken_over))
        _check_stopped(ctx, lost.value)
    finally:
        ctx.close()
