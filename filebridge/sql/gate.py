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
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from typing import Any

TURN_SECONDS = 60.0  # the longest one write transaction is expected to hold the gate


class GateTimeout(Exception):
    """The gate did not come free within the wait the queue allowed."""

    def __init__(self, waited: float, ahead: int) -> None:
        super().__init__(f"waited {waited:.0f} s for the database's write lock behind "
                         f"{ahead} other write(s) of this process")
        self.waited, self.ahead = waited, ahead


class WriteGate:
    """A first-come-first-served, thread-reentrant lock with a queue-sized wait."""

    def __init__(self, turn_seconds: float = TURN_SECONDS) -> None:
        self.turn_seconds = turn_seconds
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._owner: int | None = None
        self._depth = 0

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
            try:
                while self._owner is not None or self._queue[0] is not ticket:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise GateTimeout(time.monotonic() - started, ahead)
                    self._cond.wait(left)
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the one behind may be first now
                raise
            self._queue.popleft()
            self._owner, self._depth = me, 1

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
            gate = _GATES[database] = WriteGate()
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
