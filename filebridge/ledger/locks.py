"""One run per connection at a time, across threads, processes and hosts.

A row in ``locks`` per connection names its holder (``host:pid:token``). Taking the
lock is one write transaction (``BEGIN IMMEDIATE`` on SQLite, a primary-key insert
everywhere), so two daemons or a daemon and a manual CLI run can never both hold it.
A holder whose process is gone (same host) or whose heartbeat is older than
``stale_after`` seconds (another host) is taken over, so a crash never needs a
manual unlock.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.errors import Transient
from filebridge.ledger.errors import LedgerError
from filebridge.ledger.schema import locks

STALE_AFTER = 600.0


class ConnectionBusy(LedgerError, Transient):
    """Another run holds this connection's lock."""

    code = "connection-busy"

    def __init__(self, connection: str, holder: str, since: datetime) -> None:
        super().__init__(f"connection {connection!r} is busy: a run by {holder} holds it "
                         f"since {since:%Y-%m-%d %H:%M:%S}")
        self.connection, self.holder, self.since = connection, holder, since


@dataclass
class Lock:
    """A held connection lock; ``beat()`` keeps it fresh during long runs."""

    engine: Engine
    connection: str
    holder: str

    def beat(self, now: datetime | None = None) -> None:
        """Record that the holder is alive."""
        with self.engine.begin() as tx:
            tx.execute(locks.update().where(locks.c.connection == self.connection,
                                            locks.c.holder == self.holder)
                       .values(heartbeat_at=now or datetime.now(UTC)))


def _alive(holder: str, heartbeat: datetime, now: datetime, stale_after: float) -> bool:
    host, pid, _token = (holder.split(":") + ["", "", ""])[:3]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    return now - heartbeat < timedelta(seconds=stale_after)


def _busy(engine: Engine, connection: str) -> ConnectionBusy:
    """The error naming whoever holds ``connection`` now."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(locks.c.holder, locks.c.acquired_at)
                           .where(locks.c.connection == connection)).first()
    if row is None:  # released meanwhile: still busy a moment ago
        return ConnectionBusy(connection, "another process", datetime.now(UTC))
    return ConnectionBusy(connection, row.holder, row.acquired_at)


def _try_take(engine: Engine, connection: str, holder: str, stale_after: float) -> None:
    now = datetime.now(UTC)
    with engine.begin() as tx:
        row = tx.execute(sa.select(locks.c.holder, locks.c.acquired_at, locks.c.heartbeat_at)
                         .where(locks.c.connection == connection)).first()
        if row is not None:
            if _alive(row.holder, row.heartbeat_at, now, stale_after):
                raise ConnectionBusy(connection, row.holder, row.acquired_at)
            tx.execute(locks.delete().where(locks.c.connection == connection))
        tx.execute(locks.insert().values(connection=connection, holder=holder,
                                         acquired_at=now, heartbeat_at=now))


@contextmanager
def connection_lock(engine: Engine, connection: str, *, wait_seconds: float = 0.0,
                    stale_after: float = STALE_AFTER) -> Iterator[Lock]:
    """Hold ``connection``'s lock for the block; wait up to ``wait_seconds`` for it."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            _try_take(engine, connection, holder, stale_after)
            break
        except ConnectionBusy:
            if time.monotonic() >= deadline:
                raise
        except sa.exc.IntegrityError:
            # Another process inserted its row between our read and our insert (PostgreSQL
            # runs both transactions side by side; SQLite's BEGIN IMMEDIATE never does).
            if time.monotonic() >= deadline:
                raise _busy(engine, connection) from None
        time.sleep(0.2)
    try:
        yield Lock(engine, connection, holder)
    finally:
        with engine.begin() as tx:
            tx.execute(locks.delete().where(locks.c.connection == connection,
                                            locks.c.holder == holder))
