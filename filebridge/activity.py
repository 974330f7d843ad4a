"""Who does what in this thread, and the long waits it met.

The daemon sets the connection and task run around each task (``daemon.logs``), so
log lines carry them, and a lock that makes others wait can say whose work holds it.
A wait for a lock longer than ``LONG_WAIT`` seconds is logged once, as a warning
naming the holder, and kept for the task's record in the ledger (``status`` shows it).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("filebridge.waits")

LONG_WAIT = 30.0  # seconds of waiting for a lock worth a warning and a line in status

current_connection: contextvars.ContextVar[str] = contextvars.ContextVar(
    "filebridge_connection", default="-")
current_run: contextvars.ContextVar[str] = contextvars.ContextVar("filebridge_run", default="-")
_waits: contextvars.ContextVar[list[LongWait] | None] = contextvars.ContextVar(
    "filebridge_waits", default=None)


def doing() -> str:
    """The work of this thread for people: ``connection c01 (task-17)``, or ``this process``."""
    connection, run = current_connection.get(), current_run.get()
    if connection == "-":
        return "this process"
    return f"connection {connection}" + (f" ({run})" if run != "-" else "")


@dataclass(frozen=True)
class LongWait:
    """One wait for a lock that took longer than ``LONG_WAIT``."""

    lock: str  # what was waited for, for people ("the write lock of lms.sqlite")
    seconds: float
    holder: str  # who held it when the wait grew long
    since: datetime | None  # since when that holder held it
    obtained: bool  # False when the wait ended by giving up

    def describe(self) -> str:
        """One line for people."""
        since = f" since {self.since:%H:%M:%S}" if self.since else ""
        end = "" if self.obtained else ", then gave up"
        return f"waited {self.seconds:.0f} s for {self.lock}, held by {self.holder}{since}{end}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the task record and ``status --json``)."""
        return {"lock": self.lock, "seconds": round(self.seconds, 1), "holder": self.holder,
                "since": self.since.isoformat() if self.since else None,
                "obtained": self.obtained}


def long_wait(wait: LongWait) -> None:
    """Report a long wait: one warning now, and one entry in the running task's record."""
    log.warning("%s", wait.describe())
    collected = _waits.get()
    if collected is not None:
        collected.append(wait)


@contextmanager
def collecting_waits() -> Iterator[list[LongWait]]:
    """Collect the long waits of the block (in this thread) into the list it yields."""
    found: list[LongWait] = []
    token = _waits.set(found)
    try:
        yield found
    finally:
        _waits.reset(token)
