"""The daemon's heartbeat: a row in the ledger refreshed every few seconds.

``filebridge status`` reads it to say whether a daemon is alive; a process that
died leaves a row that simply grows stale, and a clean shutdown removes it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime

from filebridge.errors import FilebridgeError
from filebridge.ledger.daemon_state import DaemonState

log = logging.getLogger(__name__)
DEFAULT_INTERVAL = 30.0


def daemon_holder() -> str:
    """``host:pid`` of this daemon, as its heartbeat row names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Pulse:
    """A background thread writing this daemon's heartbeat every ``interval`` seconds."""

    def __init__(self, state: DaemonState, connections: list[str],
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.state, self.connections, self.interval = state, connections, interval
        self.holder = daemon_holder()
        self.started_at = datetime.now(UTC)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filebridge-heartbeat",
                                        daemon=True)

    def start(self) -> None:
        """Write the first beat now (so status sees the daemon at once), then keep beating."""
        self.beat()
        self._thread.start()

    def beat(self) -> None:
        """Write one heartbeat; a busy database only delays it (logged, never raised)."""
        try:
            self.state.beat(self.holder, self.started_at, self.interval, self.connections,
                            datetime.now(UTC))
        except FilebridgeError as exc:
            log.warning("heartbeat not written: %s", exc)

    def stop(self) -> None:
        """Stop beating and remove the row: a clean shutdown is not a dead daemon."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 5)
        try:
            self.state.stop_beating(self.holder)
        except FilebridgeError as exc:
            log.warning("heartbeat not removed: %s", exc)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.beat()
