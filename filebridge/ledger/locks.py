"""One run per connection at a time, across threads, processes and hosts.

A row in ``locks`` per connection names its holder (see ``holders``) and, refreshed by
a background thread while the lock is held, its heartbeat. What makes the lock
exclusive depends on the database:

- PostgreSQL: a session advisory lock, held on a session of its own (one per process
  and database, opened while any lock is held). The server frees it the moment that
  session ends, so a holder that dies (SIGKILL, OOM, power cut: TCP keepalives notice
  a vanished host within about a minute) never blocks anyone; the row only says who.
- SQLite (one host): the row itself, written under ``BEGIN IMMEDIATE``. A holder is
  dead when its process is gone, its PID now belongs to a process started later, or
  the machine rebooted; a holder that names another host (a renamed container) is dead
  once its heartbeat is older than ``stale_after``.

Either way a crash never needs a manual unlock; ``filebridge unlock`` exists to say
who holds a lock and to clear the row of a dead one at once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge import activity
from filebridge.errors import FilebridgeError, Transient
from filebridge.ledger.errors import LedgerError
from filebridge.ledger.holders import Holder, describe_holder
from filebridge.ledger.keeper import keeper_for
from filebridge.ledger.schema import locks, runs
from filebridge.sql import reading

log = logging.getLogger(__name__)

STALE_AFTER = 120.0  # seconds without a heartbeat before another host's lock is taken over
BEAT_EVERY = 15.0  # seconds between heartbeats of a held lock
POLL = 0.2  # seconds between attempts while waiting for a lock


class LockLost(LedgerError, Transient):
    """The run's connection lock is no longer held (its database session ended), so
    another run may have the connection: this run stops before it commits."""

    code = "lock-lost"

    def __init__(self, connection: str, where: str) -> None:
        super().__init__(f"the lock of connection {connection!r} was lost ({where}); the run "
                         "stopped before committing anything")
        self.connection, self.where = connection, where


class ConnectionBusy(LedgerError, Transient):
    """Another run holds this connection's lock."""

    code = "connection-busy"

    def __init__(self, connection: str, holder: str, since: datetime) -> None:
        super().__init__(f"connection {connection!r} is busy: a run by "
                         f"{describe_holder(holder)} holds it since {since:%Y-%m-%d %H:%M:%S}")
        self.connection, self.holder, self.since = connection, holder, since


@dataclass
class Lock:
    """A held connection lock; a background thread calls ``beat()`` while it is held."""

    engine: Engine
    connection: str
    holder: str
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def beat(self, now: datetime | None = None) -> None:
        """Record that the holder is alive."""
        with self.engine.begin() as tx:
            tx.execute(locks.update().where(locks.c.connection == self.connection,
                                            locks.c.holder == self.holder)
                       .values(heartbeat_at=now or datetime.now(UTC)))

    def check(self) -> None:
        """Raise ``LockLost`` unless this lock is still ours (asked of the database)."""
        if self.engine.dialect.name == "postgresql":
            if not keeper_for(self.engine).holds(self.connection,
                                                 advisory_key(self.connection)):
                raise LockLost(self.connection, "its PostgreSQL session ended")
            return
        with reading(self.engine) as conn:
            holder = conn.scalar(sa.select(locks.c.holder).where(
                locks.c.connection == self.connection))
        if holder != self.holder:
            raise LockLost(self.connection, f"the lock row names {holder or 'nobody'}")

    def _beat_until_released(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.beat()
            except FilebridgeError as exc:  # a busy database delays a beat, nothing more
                log.info("lock heartbeat of %s delayed: %s", self.connection, exc)


@dataclass(frozen=True)
class LockState:
    """Who holds a connection's lock, for ``status`` and ``unlock``."""

    connection: str
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime
    alive: bool

    def describe(self) -> str:
        """The holder for people."""
        return describe_holder(self.holder)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def advisory_key(connection: str) -> int:
    """The 32-bit advisory lock key of ``connection`` (first argument: ``keeper.NAMESPACE``)."""
    return int.from_bytes(hashlib.sha256(connection.encode()).digest()[:4], "big", signed=True)


# Holders of the locks this process holds now. A row naming this process but none of
# them is left over from a release that failed (the database was busy): dead.
_HELD_HERE: set[str] = set()
_HELD_GUARD = threading.Lock()
_RELEASE_PAUSES = (0.2, 1.0, 2.0, 5.0, 10.0)  # seconds between attempts to delete the row


def _ours_but_released(holder: str) -> bool:
    me = Holder.current().render()
    with _HELD_GUARD:
        return holder.startswith(me + ":") and holder not in _HELD_HERE


def _row_alive(holder: str, heartbeat: datetime, now: datetime, stale_after: float) -> bool:
    """SQLite's rule: the named process is alive, or (elsewhere) its heartbeat is fresh."""
    if _ours_but_released(holder):
        return False
    process = Holder.parse(holder)
    fresh = now - _aware(heartbeat) < timedelta(seconds=stale_after)
    if process is None:
        return fresh
    alive = process.alive()
    if alive is None:
        return fresh
    # Without a start time (a row from an older version) a reused PID looks alive: the
    # heartbeat decides then.
    return alive and (bool(process.start) or fresh)


def _read(engine: Engine, connection: str) -> sa.Row | None:
    # A read transaction: status pages and `busy` messages never queue behind a writer.
    with reading(engine) as conn:
        return conn.execute(sa.select(locks).where(locks.c.connection == connection)).first()


def _busy(engine: Engine, connection: str) -> ConnectionBusy:
    """The error naming whoever holds ``connection`` now."""
    row = _read(engine, connection)
    if row is None:  # taken but not written yet, or released meanwhile: busy a moment ago
        return ConnectionBusy(connection, "another process", datetime.now(UTC))
    return ConnectionBusy(connection, row.holder, _aware(row.acquired_at))


def _interrupted(tx: Connection, connection: str, dead: str, now: datetime) -> None:
    """Fail the runs a dead holder left ``running`` on the connection it held: its
    transaction died with it, so the ledger must not show them as still going."""
    process = Holder.parse(dead)
    if process is None or not process.start:
        return  # a row of an older version: start-up recovery handles its runs
    log.info("lock of %s taken over from %s, which is gone", connection, process.describe())
    tx.execute(runs.update().where(
        runs.c.connection == connection.split("/")[0], runs.c.state == "running",
        runs.c.holder == process.render()).values(
        state="failed", finished_at=now, error='{"code": "interrupted"}'))


def _write_row(engine: Engine, connection: str, holder: str) -> None:
    now = datetime.now(UTC)
    with engine.begin() as tx:
        old = tx.scalar(sa.select(locks.c.holder).where(locks.c.connection == connection))
        if old is not None:
            _interrupted(tx, connection, old, now)
            tx.execute(locks.delete().where(locks.c.connection == connection))
        tx.execute(locks.insert().values(connection=connection, holder=holder,
                                         acquired_at=now, heartbeat_at=now))


def _try_take_row(engine: Engine, connection: str, holder: str, stale_after: float) -> None:
    now = datetime.now(UTC)
    with engine.begin() as tx:
        row = tx.execute(sa.select(locks.c.holder, locks.c.acquired_at, locks.c.heartbeat_at)
                         .where(locks.c.connection == connection)).first()
        if row is not None:
            if _row_alive(row.holder, row.heartbeat_at, now, stale_after):
                raise ConnectionBusy(connection, row.holder, _aware(row.acquired_at))
            _interrupted(tx, connection, row.holder, now)
            tx.execute(locks.delete().where(locks.c.connection == connection))
        tx.execute(locks.insert().values(connection=connection, holder=holder,
                                         acquired_at=now, heartbeat_at=now))


def _try_take(engine: Engine, connection: str, holder: str, stale_after: float) -> None:
    if engine.dialect.name != "postgresql":
        _try_take_row(engine, connection, holder, stale_after)
        return
    if not keeper_for(engine).try_lock(connection, advisory_key(connection)):
        raise _busy(engine, connection)
    try:
        _write_row(engine, connection, holder)  # the advisory lock is ours: any row is stale
    except BaseException:
        keeper_for(engine).unlock(connection, advisory_key(connection))
        raise


def _idle(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        keeper_for(engine).idle()


def _release(engine: Engine, connection: str, holder: str) -> None:
    try:
        for pause in (*_RELEASE_PAUSES, None):
            try:
                with engine.begin() as tx:
                    tx.execute(locks.delete().where(locks.c.connection == connection,
                                                    locks.c.holder == holder))
                return
            except Transient as exc:
                # The row must go: this process is alive, so nobody would take it over.
                if pause is None:
                    log.warning("lock of %s not released: %s (taken over as left over)",
                                connection, exc)
                    return
                time.sleep(pause)
    finally:
        with _HELD_GUARD:
            _HELD_HERE.discard(holder)
        if engine.dialect.name == "postgresql":
            keeper_for(engine).unlock(connection, advisory_key(connection))


def _take(engine: Engine, connection: str, holder: str, stale_after: float,
          deadline: float) -> None:
    started = time.monotonic()
    seen: ConnectionBusy | None = None  # who held it when the wait grew long
    while True:
        try:
            _try_take(engine, connection, holder, stale_after)
            _report_wait(connection, started, seen, obtained=True)
            return
        except ConnectionBusy as busy:
            if seen is None and time.monotonic() - started >= activity.LONG_WAIT:
                seen = busy
            if time.monotonic() >= deadline:
                _idle(engine)
                _report_wait(connection, started, seen or busy, obtained=False)
                raise
        except sa.exc.IntegrityError:
            # SQLite's BEGIN IMMEDIATE never lets two takers interleave; this is a race
            # on a database where the row is all there is.
            if time.monotonic() >= deadline:
                raise _busy(engine, connection) from None
        time.sleep(POLL)


def _report_wait(connection: str, started: float, seen: ConnectionBusy | None, *,
                 obtained: bool) -> None:
    waited = time.monotonic() - started
    if seen is not None and waited >= activity.LONG_WAIT:
        activity.long_wait(activity.LongWait(
            f"the lock of connection {connection!r}", waited, describe_holder(seen.holder),
            seen.since, obtained))


@contextmanager
def connection_lock(engine: Engine, connection: str, *, wait_seconds: float = 0.0,
                    stale_after: float = STALE_AFTER,
                    beat_every: float = BEAT_EVERY) -> Iterator[Lock]:
    """Hold ``connection``'s lock for the block; wait up to ``wait_seconds`` for it."""
    holder = f"{Holder.current().render()}:{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + wait_seconds
    with _HELD_GUARD:  # before the row exists: no thread here may take it as left over
        _HELD_HERE.add(holder)
    try:
        _take(engine, connection, holder, stale_after, deadline)
    except BaseException:
        with _HELD_GUARD:
            _HELD_HERE.discard(holder)
        raise
    lock = Lock(engine, connection, holder)
    beater = threading.Thread(target=lock._beat_until_released, args=(beat_every,),
                              name=f"lock-heartbeat-{connection}", daemon=True)
    beater.start()
    try:
        yield lock
    finally:
        lock._stop.set()
        beater.join()
        _release(engine, connection, holder)


def lock_state(engine: Engine, connection: str, stale_after: float = STALE_AFTER
               ) -> LockState | None:
    """Who holds ``connection``'s lock and whether they are alive; None when nobody does."""
    row = _read(engine, connection)
    if row is None:
        return None
    if engine.dialect.name == "postgresql":
        alive = keeper_for(engine).is_locked(connection, advisory_key(connection))
    else:
        alive = _row_alive(row.holder, row.heartbeat_at, datetime.now(UTC), stale_after)
    return LockState(connection, row.holder, _aware(row.acquired_at), _aware(row.heartbeat_at),
                     alive)


def remove_dead_lock(engine: Engine, connection: str, holder: str) -> bool:
    """Delete the lock row of ``holder``, a holder found dead; False if it changed meanwhile."""
    if engine.dialect.name == "postgresql":
        keeper = keeper_for(engine)
        if not keeper.try_lock(connection, advisory_key(connection)):
            return False
        try:
            with engine.begin() as tx:
                _interrupted(tx, connection, holder, datetime.now(UTC))
                return bool(tx.execute(locks.delete().where(
                    locks.c.connection == connection, locks.c.holder == holder)).rowcount)
        finally:
            keeper.unlock(connection, advisory_key(connection))
    with engine.begin() as tx:  # BEGIN IMMEDIATE: nobody takes it between check and delete
        row = tx.execute(sa.select(locks).where(locks.c.connection == connection)).first()
        if row is None or row.holder != holder or _row_alive(
                row.holder, row.heartbeat_at, datetime.now(UTC), STALE_AFTER):
            return False
        _interrupted(tx, connection, holder, datetime.now(UTC))
        tx.execute(locks.delete().where(locks.c.connection == connection))
        return True
