"""Watching a local inbox: filesystem events wake a poll, polling is the fallback.

Events only say "something changed"; whether a file is finished is still decided
by ``list_ready`` (stability, marker or manifest), so an event storm from a slow
writer cannot trigger an early pickup. ``poll`` mode is for network shares, where
inotify sees nothing written by other machines. Every watch of the process is served
by one shared thread (``watch_hub``), so a daemon with many inboxes stays small.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from filebridge.errors import FilebridgeError
from filebridge.repeats import Repeats
from filebridge.transports.base import RemoteFile
from filebridge.transports.settings import WatchMode
from filebridge.transports.watch_hub import WatchHub, shared_hub

if TYPE_CHECKING:
    from filebridge.transports.local import LocalTransport

log = logging.getLogger(__name__)


class Watch:
    """Calls back once per finished file from the shared watch thread; ``stop()`` ends it."""

    def __init__(
        self,
        transport: LocalTransport,
        callback: Callable[[RemoteFile], None],
        mode: WatchMode,
        poll_seconds: float,
        hub: WatchHub | None = None,
    ) -> None:
        self.transport, self.callback, self.mode = transport, callback, mode
        self.poll_seconds = poll_seconds
        self.folder = str(transport.inbox)
        self.events = mode == "events"
        self._hub = hub or shared_hub()
        self._stopped = threading.Event()
        self._reported: set[tuple[str, int, float]] = set()
        self._repeats = Repeats()

    def start(self) -> None:
        """Start being served: a first poll at once, then on events and polls."""
        self._hub.add(self)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; a poll under way ends first, and no callback follows."""
        self._stopped.set()
        self._hub.remove(self)

    def next_wait(self) -> float:
        """Seconds until the next poll: soon while a file settles, else the slow poll."""
        # While some file is still settling, look again soon; else wait for an event,
        # with a slow safety poll in case an event was missed.
        if self.transport.selector.tracker.waiting:
            stable = self.transport.settings.ready.stable_seconds
            return min(max(stable / 4, 0.05), 1.0)
        return self.poll_seconds

    def poll_once(self) -> None:
        """List the inbox once and call back for each newly finished file."""
        if self._stopped.is_set():
            return
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
            if key in self._reported or self._stopped.is_set():
                continue
            self._reported.add(key)
            try:
                self.callback(f)
            except Exception:  # noqa: BLE001 - the consumer's bug must not kill the watch
                log.exception("watch callback failed for %s", ascii(f.name))
