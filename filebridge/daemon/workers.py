"""A fixed number of worker threads and one fair queue of due tasks.

Every task of every connection, scheduled, requested by a folder watch, retried or
started by ``run --once``, waits in one queue. A free worker takes the task that has
waited longest (ties: the one queued first) among the connections not running now, so
one connection never holds two workers and no connection is starved however many
others keep sending files. A task merged into one already waiting for the same key
keeps the older place in the queue.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(order=True)
class QueuedTask:
    """One waiting task: ``run`` is called on a worker thread once its turn comes."""

    waiting_since: float  # time.monotonic() when first queued; the oldest goes first
    seq: int
    connection: str = field(compare=False)
    key: tuple[str, ...] = field(compare=False)
    run: Callable[[], object] = field(compare=False, repr=False)
    not_before: float = field(default=0.0, compare=False)  # monotonic; a retry's backoff


class RunQueue:
    """``workers`` threads serving queued tasks fairly; see the module doc."""

    def __init__(self, workers: int, name: str = "filebridge-run") -> None:
        self.workers = max(1, workers)
        self.name = name
        self._cond = threading.Condition()
        self._waiting: list[QueuedTask] = []
        self._running: set[str] = set()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, connection: str, key: tuple[str, ...], run: Callable[[], object],
               delay: float = 0.0, since: float | None = None) -> bool:
        """Queue ``run``; False when a task with ``key`` waits already (merged into it).

        ``delay``: seconds before it may start; ``since``: the monotonic time it first
        queued (a task put back keeps its place).
        """
        with self._cond:
            if self._closed:
                return False
            if any(t.key == key for t in self._waiting):
                return False
            now = time.monotonic()
            self._waiting.append(QueuedTask(now if since is None else since, next(self._seq),
                                            connection, key, run, now + delay))
            self._start_workers()
            self._cond.notify()
            return True

    def waiting(self) -> int:
        """Tasks waiting for a worker."""
        with self._cond:
            return len(self._waiting)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing waits or runs; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._waiting or self._running:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 1.0)
        return True

    def close(self, drop_waiting: bool = True) -> None:
        """Take no new tasks; drop the waiting ones (or not) and let running ones finish."""
        with self._cond:
            self._closed = True
            if drop_waiting:
                self._waiting.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _start_workers(self) -> None:
        # Started on first use, never more than ``workers``: an idle daemon holds them only.
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"{self.name}-{len(self._threads) + 1}")
            self._threads.append(thread)
            thread.start()

    def _next(self) -> QueuedTask | None:
        """The task to run now, or None; called with the condition held."""
        now = time.monotonic()
        ready = [t for t in self._waiting
                 if t.not_before <= now and t.connection not in self._running]
        if not ready:
            return None
        task = min(ready)
        self._waiting.remove(task)
        self._running.add(task.connection)
        return task

    def _pause(self) -> float:
        """How long a worker with nothing to do sleeps before looking again."""
        now = time.monotonic()
        later = [t.not_before - now for t in self._waiting if t.not_before > now]
        return max(0.01, min(later)) if later else 5.0

    def _work(self) -> None:
        while True:
            with self._cond:
                task = self._next()
                while task is None:
                    if self._closed and not self._waiting:
                        return
                    self._cond.wait(self._pause())
                    task = self._next()
            try:
                task.run()
            except Exception:  # noqa: BLE001 - the task records its own failure; keep serving
                log.exception("task of %s ended with an unexpected error", task.connection)
            finally:
                with self._cond:
                    self._running.discard(task.connection)
                    self._cond.notify_all()
