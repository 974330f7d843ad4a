"""Tasks whose connection another process runs now (a manual sync, a second daemon).

Such a task goes back to the queue, its place kept, instead of holding a worker while
it waits; this module remembers since when and behind whom it waited, gives up the
waiting after ``lock_wait`` seconds (the run then waits for the lock itself and
reports), and turns a wait longer than ``activity.LONG_WAIT`` into a ``LongWait`` the
task's own run reports, so that its record in the ledger has it.
"""

from __future__ import annotations

import threading
import time

from filebridge import activity
from filebridge.activity import LongWait
from filebridge.errors import FilebridgeError
from filebridge.ledger import Ledger
from filebridge.ledger.locks import LockState

Key = tuple[str, str]  # (connection, task)


class RunElsewhere:
    """Per (connection, task): first found busy, the holder then, and a finished long wait."""

    def __init__(self, ledger: Ledger, lock_wait: float) -> None:
        self.ledger, self.lock_wait = ledger, lock_wait
        self._guard = threading.Lock()
        self._since: dict[Key, float] = {}  # monotonic
        self._holder: dict[Key, LockState] = {}
        self._waited: dict[Key, LongWait] = {}

    def busy_since(self, connection: str, task: str) -> float | None:
        """When the task first found its connection run elsewhere, if it still does and
        has not waited ``lock_wait`` yet (put it back in the queue); else None (run now)."""
        key = (connection, task)
        now = time.monotonic()
        holder = self._held_elsewhere(connection, task)
        with self._guard:
            since = self._since.get(key)
            if holder is not None and (since is None or now - since <= self.lock_wait):
                self._holder.setdefault(key, holder)
                return self._since.setdefault(key, now)
            self._since.pop(key, None)
            seen = self._holder.pop(key, None)
            if since is not None and seen is not None and now - since >= activity.LONG_WAIT:
                self._waited[key] = LongWait(
                    f"the lock of connection {connection!r} (in the queue)", now - since,
                    seen.describe(), seen.acquired_at, holder is None)
        return None

    def take_wait(self, connection: str, task: str) -> LongWait | None:
        """The long wait in the queue the task's run now reports, if there was one."""
        with self._guard:
            return self._waited.pop((connection, task), None)

    def _held_elsewhere(self, connection: str, task: str) -> LockState | None:
        """Who holds the connection (or its pickup) in another process now, if anyone."""
        names = [connection, f"{connection}/pickup"] if task == "import" else [connection]
        try:
            return next((state for name in names if (state := self.ledger.lock_state(name))
                         is not None and state.alive), None)
        except FilebridgeError:
            return None  # the run itself will meet (and report) the database's trouble
