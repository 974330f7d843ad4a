"""The per-connection lock: exclusive, names its holder, survives a dead holder."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from filebridge.ledger.locks import ConnectionBusy, connection_lock
from filebridge.ledger.schema import locks
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """These rules hold on SQLite and on PostgreSQL alike."""
    return request.getfixturevalue(request.param)


def test_second_holder_is_refused_naming_the_first(engine):
    with connection_lock(engine, "acme"):
        with pytest.raises(ConnectionBusy) as exc:
            with connection_lock(engine, "acme"):
                pass
        assert exc.value.connection == "acme" and ":" in exc.value.holder
        with connection_lock(engine, "other"):  # other connections are independent
            pass
    with connection_lock(engine, "acme"):  # released on exit
        pass


def test_lock_of_a_dead_process_is_taken_over(engine):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import socket
    now = datetime.now(UTC)
    with engine.begin() as tx:
        tx.execute(locks.insert().values(connection="acme", holder=f"{socket.gethostname()}:"
                                         f"{dead}:x", acquired_at=now, heartbeat_at=now))
    with connection_lock(engine, "acme"):
        pass


def test_lock_of_another_host_goes_stale_after_its_heartbeat(engine):
    old = datetime.now(UTC) - timedelta(hours=2)
    with engine.begin() as tx:
        tx.execute(locks.insert().values(connection="acme", holder="elsewhere:1:x",
                                         acquired_at=old, heartbeat_at=old))
    with pytest.raises(ConnectionBusy):
        with connection_lock(engine, "acme", stale_after=3 * 3600):
            pass
    with connection_lock(engine, "acme", stale_after=600):
        pass
