"""The per-connection lock: exclusive, names its holder, survives a dead holder."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge import activity
from filebridge.activity import collecting_waits
from filebridge.ledger.holders import Holder, boot_id, process_start
from filebridge.ledger.locks import ConnectionBusy, connection_lock, lock_state
from filebridge.ledger.schema import locks
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """These rules hold on SQLite and on PostgreSQL alike."""
    return request.getfixturevalue(request.param)


def _plant(engine: Engine, holder: str, heartbeat: datetime | None = None) -> None:
    at = heartbeat or datetime.now(UTC)
    with engine.begin() as tx:
        tx.execute(locks.insert().values(connection="acme", holder=holder, acquired_at=at,
                                         heartbeat_at=at))


def test_second_holder_is_refused_naming_the_first(engine):
    with connection_lock(engine, "acme"):
        with pytest.raises(ConnectionBusy) as exc:
            with connection_lock(engine, "acme"):
                pass
        assert exc.value.connection == "acme"
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(exc.value)
        with connection_lock(engine, "other"):  # other connections are independent
            pass
    with connection_lock(engine, "acme"):  # released on exit
        pass


def test_lock_of_a_dead_process_is_taken_over(engine):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    _plant(engine, f"{socket.gethostname()}:{dead}:x")
    with connection_lock(engine, "acme"):
        pass


def test_a_reused_pid_is_not_the_holder(engine):
    """A daemon killed mid-run comes back as PID 1 in its container: PID 1 is alive, but
    it started after the holder did, so the lock is the dead holder's and is taken over."""
    init = Holder(socket.gethostname(), 1, process_start(1), boot_id())
    _plant(engine, Holder(init.host, 1, str(int(init.start or 0) + 7), init.boot).render())
    with connection_lock(engine, "acme"):
        pass
    _plant(engine, Holder(init.host, 1, init.start, "f" * 32).render() + ":x")  # older boot
    with connection_lock(engine, "acme"):
        pass


def test_the_lock_beats_while_it_is_held(engine):
    with connection_lock(engine, "acme", beat_every=0.1):
        first = lock_state(engine, "acme")
        time.sleep(0.6)
        later = lock_state(engine, "acme")
    assert first is not None and later is not None and first.alive and later.alive
    assert later.heartbeat_at - first.heartbeat_at >= timedelta(seconds=0.3)
    assert lock_state(engine, "acme") is None


def test_sqlite_lock_of_another_host_goes_stale_after_its_heartbeat(state_url):
    from tests.conftest import _migrated

    for engine in _migrated(state_url):
        _plant(engine, "elsewhere:1:x", datetime.now(UTC) - timedelta(hours=2))
        with pytest.raises(ConnectionBusy):
            with connection_lock(engine, "acme", stale_after=3 * 3600):
                pass
        with connection_lock(engine, "acme", stale_after=600):
            pass


@pytest.mark.postgres
def test_postgres_row_without_a_session_is_stale_at_once(postgres_engine):
    """On PostgreSQL the advisory lock decides: a fresh row of a vanished host is no lock."""
    _plant(postgres_engine, "elsewhere:1:2:3:x")
    with connection_lock(postgres_engine, "acme") as held:
        assert lock_state(postgres_engine, "acme").holder == held.holder  # type: ignore[union-attr]


HOLD = """
import sys, time
from filebridge.sql import open_engine
from filebridge.ledger.locks import connection_lock
with connection_lock(open_engine(sys.argv[1]), "acme"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.postgres
def test_postgres_frees_the_lock_of_a_killed_process_at_once(postgres_engine, pg_url):
    """SIGKILL a real holder: its session ends, the server frees the lock, and a waiter
    has it within two seconds; before, the row named a live-looking holder for 10 min."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, pg_url], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(ConnectionBusy) as exc:
            with connection_lock(postgres_engine, "acme"):
                pass
        assert f"pid {proc.pid}" in str(exc.value)
        state = lock_state(postgres_engine, "acme")
        assert state is not None and state.alive
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        with connection_lock(postgres_engine, "acme", wait_seconds=10):
            waited = time.monotonic() - killed
    finally:
        proc.kill()
        proc.wait()
    assert waited < 2.0
    with postgres_engine.connect() as conn:  # the lock session closed with the last lock
        sessions = conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE "
                                       "application_name LIKE 'filebridge locks%'"))
    assert sessions == 0


def test_a_long_wait_for_a_connection_names_its_holder(engine, monkeypatch, caplog):
    monkeypatch.setattr(activity, "LONG_WAIT", 0.4)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with connection_lock(engine, "acme"):
            holding.set()
            done.wait(1.2)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    caplog.set_level(logging.WARNING, logger="filebridge.waits")
    with collecting_waits() as waits, connection_lock(engine, "acme", wait_seconds=10):
        pass
    holder.join()
    [wait] = waits
    assert wait.lock == "the lock of connection 'acme'" and wait.obtained
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in wait.holder
    assert wait.since is not None and 0.6 < wait.seconds < 10
    assert [r.getMessage() for r in caplog.records
            if r.name == "filebridge.waits"] == [wait.describe()]
