"""One thread watches every local inbox of the process, however many there are.

A daemon serving a hundred connections would otherwise hold a hundred poll threads
plus an observer and an emitter thread per inbox. Here a single thread keeps every
watch's next poll time and sleeps until the earliest one or until a filesystem event
arrives, whichever comes first. On Linux the events come from one inotify descriptor
(read by that same thread), so the thread count does not grow with the number of
inboxes. Elsewhere one shared watchdog observer delivers them (its emitters are per
folder there).

The hub only decides *when* a watch polls; what is ready is still decided by the
watch's poll (stability, marker or manifest), so events can never cause an early
pickup.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import sys
import threading
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)

THREAD_NAME = "filebridge-watches"
# inotify(7): anything that can change which files an inbox holds or how big they are.
_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_IGNORED = 0x400, 0x800, 0x8000
_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO
         | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF)
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000
_POLLING = float("inf")  # a slot's due time while its poll runs
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class Watched(Protocol):
    """What the hub needs of a watch: its folder, its next wait, and one poll."""

    folder: str
    events: bool

    def next_wait(self) -> float:
        """Seconds until the watch wants to poll again."""
        ...

    def poll_once(self) -> None:
        """Look at the folder once and report what is ready; never raises."""
        ...


class _Inotify:
    """A minimal non-blocking inotify descriptor (Linux), read by the hub's thread."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._add, self._rm = libc.inotify_add_watch, libc.inotify_rm_watch
        self._add.argtypes, self._rm.argtypes = [ctypes.c_int, ctypes.c_char_p,
                                                 ctypes.c_uint32], [ctypes.c_int, ctypes.c_int]
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd

    def add(self, folder: str) -> int | None:
        """The watch descriptor of ``folder``, or None when it cannot be watched now."""
        wd = self._add(self.fd, os.fsencode(folder), _MASK)
        return wd if wd >= 0 else None

    def remove(self, wd: int) -> None:
        """Stop watching ``wd`` (gone already is fine)."""
        self._rm(self.fd, wd)

    def read(self) -> list[tuple[int, int]]:
        """Pending events as (wd, mask); wd -1 means the kernel queue overflowed."""
        try:
            data = os.read(self.fd, 64 * 1024)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return []
            raise
        events, offset = [], 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            events.append((wd, mask))
            offset += _EVENT.size + length
        return events


class _Slot:
    """The hub's bookkeeping of one watch."""

    def __init__(self, watch: Watched) -> None:
        self.watch = watch
        self.due = time.monotonic()  # poll at once: files may be waiting already
        self.wd: int | None = None
        self.handle: Any = None  # the shared observer's handle, off Linux
        self.busy = threading.Lock()  # held while the watch polls


class WatchHub:
    """Serves every watch of the process from one thread (see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}
        self._by_wd: dict[int, set[int]] = {}
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._inotify: _Inotify | None = None
        self._observer: Any = None
        self._inotify_failed = False

    def threads(self) -> int:
        """Threads the hub runs now (0 or 1, plus a shared observer's off Linux)."""
        with self._lock:
            return int(self._thread is not None and self._thread.is_alive())

    def add(self, watch: Watched) -> None:
        """Start serving ``watch``: a first poll at once, then as it asks."""
        slot = _Slot(watch)
        with self._lock:
            self._slots[id(watch)] = slot
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME,
                                                daemon=True)
                self._thread.start()
        self._nudge()

    def remove(self, watch: Watched) -> None:
        """Stop serving ``watch``; a poll of it under way finishes first (unless that
        poll is what asks, from its own callback)."""
        with self._lock:
            slot = self._slots.pop(id(watch), None)
            if slot is None:
                return
            self._forget_events(slot)
        if threading.current_thread() is not self._thread:
            with slot.busy:
                pass
        self._nudge()

    def wake(self, watch: Watched) -> None:
        """Poll ``watch`` as soon as possible."""
        with self._lock:
            slot = self._slots.get(id(watch))
            if slot is not None:
                slot.due = 0.0
        self._nudge()

    # -- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._slots:
                    self._thread = None  # the next add starts a fresh thread
                    return
                now = time.monotonic()
                due = [s for s in self._slots.values() if s.due <= now]
                nearest = min(s.due for s in self._slots.values())
            for slot in due:
                self._poll(slot)
            if not due:
                self._sleep(max(0.0, nearest - time.monotonic()))

    def _poll(self, slot: _Slot) -> None:
        with slot.busy:
            with self._lock:
                if self._slots.get(id(slot.watch)) is not slot:
                    return  # removed meanwhile
                slot.due = _POLLING
            if slot.watch.events:
                self._listen(slot)
            try:
                slot.watch.poll_once()
            except Exception:  # noqa: BLE001 - one inbox's bug must not stop the others
                log.exception("watching %s failed", slot.watch.folder)
            wait = slot.watch.next_wait()
        with self._lock:
            if slot.due == _POLLING:  # else an event during the poll asked for another
                slot.due = time.monotonic() + wait

    def _sleep(self, seconds: float) -> None:
        readable = [self._wake_r]
        if self._inotify is not None:
            readable.append(self._inotify.fd)
        try:
            ready, _, _ = select.select(readable, [], [], seconds)
        except InterruptedError:
            return
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        if self._inotify is not None and self._inotify.fd in ready:
            self._dispatch(self._inotify.read())

    def _dispatch(self, events: list[tuple[int, int]]) -> None:
        with self._lock:
            for wd, mask in events:
                targets = self._slots.keys() if wd == -1 else self._by_wd.get(wd, set())
                for key in list(targets):
                    slot = self._slots.get(key)
                    if slot is None:
                        continue
                    slot.due = 0.0
                    if mask & _IN_IGNORED:  # the folder went away: watch it again later
                        slot.wd = None
                if mask & _IN_IGNORED:
                    self._by_wd.pop(wd, None)

    def _nudge(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # the pipe is full of nudges already

    # -- filesystem events -----------------------------------------------------------

    def _listen(self, slot: _Slot) -> None:
        """Subscribe ``slot``'s folder to events if it is not yet (it may appear later)."""
        if slot.wd is not None or slot.handle is not None:
            return
        if sys.platform.startswith("linux") and not self._inotify_failed:
            try:
                if self._inotify is None:
                    self._inotify = _Inotify()
            except OSError as exc:
                self._inotify_failed = True
                log.warning("no filesystem events (%s); inboxes are polled", exc)
                return
            wd = self._inotify.add(slot.watch.folder)
            if wd is not None:
                with self._lock:
                    slot.wd = wd
                    self._by_wd.setdefault(wd, set()).add(id(slot.watch))
            return
        self._observe(slot)

    def _observe(self, slot: _Slot) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        hub, watch = self, slot.watch

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                hub.wake(watch)

        if self._observer is None:
            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        try:
            slot.handle = self._observer.schedule(_Wake(), watch.folder, recursive=False)
        except OSError:
            slot.handle = None  # not there yet: the next poll tries again

    def _forget_events(self, slot: _Slot) -> None:
        """Drop ``slot``'s event subscription (called with the hub's lock held)."""
        if slot.wd is not None and self._inotify is not None:
            owners = self._by_wd.get(slot.wd, set())
            owners.discard(id(slot.watch))
            if not owners:
                self._by_wd.pop(slot.wd, None)
                self._inotify.remove(slot.wd)
        if slot.handle is not None and self._observer is not None:
            self._observer.unschedule(slot.handle)


_HUB: WatchHub | None = None
_HUB_GUARD = threading.Lock()


def shared_hub() -> WatchHub:
    """The process-wide hub."""
    global _HUB
    with _HUB_GUARD:
        if _HUB is None:
            _HUB = WatchHub()
        return _HUB
