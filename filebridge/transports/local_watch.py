"""Watching a local inbox: filesystem events wake a poll, polling is the fallback.

Events only say "something changed"; whether a file is finished is still decided
by ``list_ready`` (stability, marker or manifest), so an event storm from a slow
writer cannot trigger an early pickup. ``poll`` mode is for network shares, where
inotify sees nothing written by other machines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from filebridge.errors import FilebridgeError
from filebridge.repeats import Repeats
from filebridge.transports.base import RemoteFile
from filebridge.transports.settings import WatchMode

if TYPE_CHECKING:
    from filebridge.transports.local import LocalTransport

log = logging.getLogger(__name__)


class _Wake(FileSystemEventHandler):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.event.set()


class Watch:
    """A background thread calling back once per finished file; ``stop()`` ends it."""

    def __init__(
        self,
        transport: LocalTransport,
        callback: Callable[[RemoteFile], None],
        mode: WatchMode,
        poll_seconds: float,
    ) -> None:
        self.transport, self.callback, self.mode = transport, callback, mode
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._reported: set[tuple[str, int, float]] = set()
        self._repeats = Repeats()
        self._observer: Any = None
        self._thread = threading.Thread(target=self._run, name="filebridge-watch", daemon=True)

    def start(self) -> None:
        """Start the observer (events mode) and the polling thread."""
        if self.mode == "events":
            self._observer = Observer()
            self._observer.schedule(_Wake(self._wake), str(self.transport.inbox), recursive=False)
            self._observer.start()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread to end."""
        self._stopped.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _next_wait(self) -> float:
        # While some file is still settling, look again soon; else wait for an event,
        # with a slow safety poll in case an event was missed.
        if self.transport.selector.tracker.waiting:
            stable = self.transport.settings.ready.stable_seconds
            return min(max(stable / 4, 0.05), 1.0)
        return self.poll_seconds

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                ready = self.transport.list_ready(time.time())
            except FilebridgeError as exc:  # a known condition: said once, then reminders
                ready = []
                say, quiet = self._repeats.news("poll", str(exc))
                if say:
                    again = f" (again, {quiet} polls since)" if quiet else ""
                    log.error("polling %s failed: %s%s", self.transport.inbox, exc, again)
            except Exception:  # noqa: BLE001 - a watch must survive a bad poll and retry
                log.exception("polling %s failed", self.transport.inbox)
                ready = []
            else:
                if self._repeats.cleared("poll"):
                    log.info("polling %s works again", self.transport.inbox)
            for f in ready:
                key = (f.name, f.size, f.mtime)
                if key in self._reported:
                    continue
                self._reported.add(key)
                try:
                    self.callback(f)
                except Exception:  # noqa: BLE001 - the consumer's bug must not kill the watch
                    log.exception("watch callback failed for %s", ascii(f.name))
            self._wake.wait(self._next_wait())
            self._wake.clear()
