"""One writer at a time per SQLite file inside this process, queued in arrival order.

SQLite allows one write transaction per database file. Threads that reach
``BEGIN IMMEDIATE`` together would otherwise sleep-and-poll inside SQLite's busy
handler, where the order is luck and a long queue ends in "database is locked" after
the busy timeout. Instead every write transaction of this process first takes its
file's ``WriteGate``: waiters are served first come, first served, and a waiter gives
up (``DatabaseUnavailable``, a transient error) only after a wait that grows with the
queue in front of it: ``turn_seconds`` for every transaction ahead of it. Other
processes (a manual CLI run beside the daemon) still meet SQLite's own busy timeout.

The gate is taken by the engine's ``begin`` hook and given back when the sqlite3
connection commits, rolls back or closes (``GatedConnection``), so it is held exactly
as long as SQLite's own write lock. A thread that already holds the gate passes again
(a nested writer in the same thread never waits for itself).

The gate knows whose work holds it (``activity.doing()``: the connection and task run)
and since when, so a wait longer than ``activity.LONG_WAIT`` is reported once with the
holder's name and the time waited.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from filebridge import activity

TURN_SECONDS = 60.0  # the longest one write transaction is expected to hold the gate


class GateTimeout(Exception):
    """The gate did not come free within the wait the queue allowed."""

    def __init__(self, waited: float, ahead: int) -> None:
        super().__init__(f"waited {waited:.0f} s for the database's write lock behind "
                         f"{ahead} other write(s) of this process")
        self.waited, self.ahead = waited, ahead


class WriteGate:
    """A first-come-first-served, thread-reentrant lock with a queue-sized wait."""

    def __init__(self, turn_seconds: float = TURN_SECONDS, name: str = "the database") -> None:
        self.turn_seconds, self.name = turn_seconds, name
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._owner: int | None = None
        self._depth = 0
        self._holder, self._since = "", datetime.now(UTC)  # whose work holds it, from when

    def holder(self) -> tuple[str, datetime] | None:
        """Whose work holds the gate now and since when, or None when it is free."""
        with self._cond:
            return None if self._owner is None else (self._holder, self._since)

    def waiting(self) -> int:
        """How many threads wait for the gate now."""
        with self._cond:
            return len(self._queue)

    def acquire(self) -> None:
        """Take the gate, waiting behind every earlier waiter; ``GateTimeout`` if too long."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = object()
            ahead = len(self._queue) + (self._owner is not None)
            self._queue.append(ticket)
            started = time.monotonic()
            deadline = started + self.turn_seconds * (ahead + 1)
            seen: tuple[str, datetime] | None = None  # the holder when the wait grew long
            try:
                while self._owner is not None or self._queue[0] is not ticket:
                    now = time.monotonic()
                    left = deadline - now
                    if left <= 0:
                        raise GateTimeout(now - started, ahead)
                    long_at = started + activity.LONG_WAIT
                    if seen is None and now >= long_at:
                        seen = (self._holder, self._since) if self._owner is not None else (
                            f"{len(self._queue) - 1} write(s) queued ahead", self._since)
                    self._cond.wait(left if seen is not None else min(left, long_at - now))
            except GateTimeout as exc:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the one behind may be first now
                self._report(exc.waited, seen, obtained=False)
                raise
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._owner, self._depth = me, 1
            self._holder, self._since = activity.doing(), datetime.now(UTC)
        self._report(time.monotonic() - started, seen, obtained=True)

    def _report(self, waited: float, seen: tuple[str, datetime] | None, *,
                obtained: bool) -> None:
        if seen is not None and waited >= activity.LONG_WAIT:
            activity.long_wait(activity.LongWait(
                f"the write lock of {self.name}", waited, seen[0], seen[1], obtained))

    def release(self) -> None:
        """Give the gate back (once per ``acquire``)."""
        with self._cond:
            if self._owner is None:
                return
            self._depth -= 1
            if self._depth <= 0:
                self._owner, self._depth = None, 0
                self._cond.notify_all()


_GATES: dict[str, WriteGate] = {}
_GATES_GUARD = threading.Lock()


def gate_for(database: str) -> WriteGate:
    """The process-wide gate of one SQLite database file."""
    with _GATES_GUARD:
        gate = _GATES.get(database)
        if gate is None:
            gate = _GATES[database] = WriteGate(name=database.rsplit("/", 1)[-1])
        return gate


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its gate back when its write transaction ends."""

    gate: WriteGate | None = None
    holds_gate = False

    def take_gate(self) -> None:
        """Wait for the gate before this connection starts a write transaction."""
        if self.gate is not None and not self.holds_gate:
            self.gate.acquire()
            self.holds_gate = True

    def drop_gate(self) -> None:
        """Give the gate back if this connection holds it."""
        if self.gate is not None and self.holds_gate:
            self.holds_gate = False
            self.gate.release()

    def commit(self) -> None:
        """Commit, then let the next writer in."""
        try:
            super().commit()
        finally:
            self.drop_gate()

    def rollback(self) -> None:
        """Roll back, then let the next writer in."""
        try:
            super().rollback()
        finally:
            self.drop_gate()

    def close(self) -> None:
        """Close; a transaction still open is rolled back by SQLite, so the gate goes too."""
        try:
            super().close()
        finally:
            self.drop_gate()


def gated_connect_args(database: str) -> dict[str, Any]:
    """``connect_args`` that make every connection of an engine a ``GatedConnection``."""
    gate = gate_for(database)

    class _Bound(GatedConnection):
        pass

    _Bound.gate = gate
    return {"factory": _Bound}
