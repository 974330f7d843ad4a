"""The daemon: APScheduler jobs from schedules/, folder watches, clean shutdown.

Rules it keeps:

- one task per connection at a time: in this process a lock per connection; across
  processes (a manual CLI run, a second daemon) the ledger's connection lock, which
  ``run_import`` takes per file and this module takes around export and cleanup;
- a failure in one connection never stops the others: tasks wait in one fair queue
  for one of ``max_parallel_runs`` worker threads (``workers``), and every exception
  ends as a recorded, logged, notified result;
- transient failures (server down, connection busy) are retried with backoff and
  notified only once no retry is left; ``run --once`` retries them within its time
  budget and then names the connections that did not complete;
- SIGTERM/SIGINT stop new work; running tasks finish (their transaction commits or
  rolls back) and the process exits 0. A second signal exits at once, which is still
  safe: an uncommitted transaction is rolled back by the database.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from filebridge import activity
from filebridge.activity import LongWait, collecting_waits
from filebridge.daemon.due import due_tasks
from filebridge.daemon.elsewhere import RunElsewhere
from filebridge.daemon.heartbeat import DEFAULT_INTERVAL, Pulse, daemon_holder
from filebridge.daemon.logs import LogProgress, log_context
from filebridge.daemon.notify import Notifications, notifying
from filebridge.daemon.outcomes import OutcomeLog, incomplete, log_incomplete, record_outcome
from filebridge.daemon.schedule import DEADLINE_TASK, ConnectionSchedule
from filebridge.daemon.tasks import (
    TASKS,
    TaskResult,
    check_expected_file,
    has_pending_claims,
)
from filebridge.daemon.workers import RunQueue
from filebridge.errors import FilebridgeError, Transient
from filebridge.pipeline.context import Context
from filebridge.pipeline.report import EXIT_OK, EXIT_UNAVAILABLE, EXIT_UNUSABLE
from filebridge.transports import Transport, open_transport

log = logging.getLogger(__name__)

RETRY_DELAYS = (60.0, 300.0, 900.0)  # seconds before the 1st, 2nd and 3rd retry
# run --once: the first retry of a transient failure after 2 s, doubling up to 30 s,
# for as long as its time budget lasts.
ONCE_BACKOFF = (2.0, 30.0)
# APScheduler's own threads only put due tasks into the queue; the queue's workers run them.
TIMER_THREADS = 2
BUSY_POLL = 1.0  # seconds before a task whose connection runs elsewhere is tried again
LOCK_WAIT = 300.0  # how long export or cleanup waits for a manual run of its connection
EXIT_FORCED = 130
# A run that could not start on time (all workers busy, machine suspended) still runs,
# once however late (coalesce): the same rule as for runs missed while the daemon was down.
JOB_DEFAULTS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


class Daemon:
    """Runs the scheduled tasks of the given connections; see the module doc."""

    def __init__(self, ctx: Context, schedules: dict[str, ConnectionSchedule], *,
                 notifications: Notifications | None = None,
                 heartbeat_seconds: float = DEFAULT_INTERVAL,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS,
                 lock_wait: float = LOCK_WAIT,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 once_retry_seconds: float = 0.0) -> None:
        self.ctx, self.schedules, self.clock = ctx, schedules, clock
        self.notifications = notifications or Notifications(ctx.settings.notifications)
        self.heartbeat_seconds, self.retry_delays = heartbeat_seconds, retry_delays
        self.lock_wait = lock_wait
        self.state = ctx.ledger.daemon_state
        self.holder = daemon_holder()
        self.stopping = threading.Event()
        self.worst = EXIT_OK
        self._busy = {name: threading.Lock() for name in schedules}
        self._requested: dict[tuple[str, str], str] = {}
        self._guard = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._watched: list[Transport] = []
        self.queue = RunQueue(ctx.settings.max_parallel_runs)
        self.once_retry_seconds = once_retry_seconds
        self._once_until: float | None = None  # monotonic end of run --once's retry budget
        self._last: dict[tuple[str, str], TaskResult] = {}
        self._elsewhere = RunElsewhere(ctx.ledger, lock_wait)
        self._queued_now = threading.local()  # the queued task this worker thread runs
        self._outcomes = OutcomeLog()

    # -- what is due -------------------------------------------------------------

    def due_tasks(self, now: datetime, everything: bool = False) -> list[tuple[str, str, str]]:
        """(connection, task, trigger) to run now; see ``due.due_tasks``."""
        return due_tasks(self.schedules, self.state, now, everything=everything)

    # -- running one task --------------------------------------------------------

    def run_task(self, connection: str, task: str, trigger: str = "schedule",
                 attempt: int = 0) -> int:
        """Run ``task`` now, after any other task of ``connection``; returns its exit code.

        From the queue, a task whose connection another process runs now goes back to
        the queue (its place kept) instead of holding a worker while it waits.
        """
        if self._requeue_if_busy(connection, task, trigger, attempt):
            return EXIT_OK
        with self._busy[connection]:
            with self._guard:
                # This run covers any request still queued for the same task.
                self._requested.pop((connection, task), None)
            if self.stopping.is_set():
                log.info("%s of %s not started: shutting down", task, connection)
                return EXIT_OK
            if trigger == "recovery" and not self._pending(connection):
                return EXIT_OK
            result = self._run(connection, task, trigger, attempt)
        with self._guard:
            self._last[(connection, task)] = result
            self.worst = max(self.worst, result.exit_code)
        return result.exit_code

    def enqueue(self, connection: str, task: str, trigger: str = "schedule",
                attempt: int = 0, delay: float = 0.0, since: float | None = None) -> bool:
        """Queue one run of ``task`` for a worker; False if the same run waits already."""
        return self.queue.submit(connection, (connection, task),
                                 self._in_worker(connection, lambda: self.run_task(
                                     connection, task, trigger, attempt)), delay, since)

    def _in_worker(self, connection: str, run: Callable[[], object]) -> Callable[[], None]:
        """``run`` as a queued task of ``connection`` (which may put itself back)."""

        def task() -> None:
            self._queued_now.active = connection
            try:
                run()
            finally:
                self._queued_now.active = None

        return task

    def _requeue_if_busy(self, connection: str, task: str, trigger: str,
                         attempt: int) -> bool:
        if getattr(self._queued_now, "active", None) != connection:
            return False  # called directly (a test, a manual run): wait as always
        first = self._elsewhere.busy_since(connection, task)
        if first is None:
            return False
        with self._guard:
            self._requested.pop((connection, task), None)  # the run put back covers it
        return self.enqueue(connection, task, trigger, attempt, BUSY_POLL, since=first) or True

    def _run_requested(self, connection: str, task: str) -> int:
        with self._guard:
            trigger = self._requested.get((connection, task))
        if trigger is None:  # a scheduled run took it over meanwhile
            return EXIT_OK
        return self.run_task(connection, task, trigger)

    def _pending(self, connection: str) -> bool:
        try:
            return has_pending_claims(self.ctx, connection)
        except FilebridgeError as exc:
            log.warning("%s: cannot look for interrupted files: %s", connection, exc)
            return False

    def _run(self, connection: str, task: str, trigger: str, attempt: int) -> TaskResult:
        # Waits for a lock count from here: recording the start may wait for the database.
        with log_context(connection, "-"), collecting_waits() as waits:
            return self._run_recorded(connection, task, trigger, attempt, waits)

    def _run_recorded(self, connection: str, task: str, trigger: str, attempt: int,
                      waits: list[LongWait]) -> TaskResult:
        started = self.clock()
        task_run_id = self.state.start_task(connection, task, trigger, self.holder, started)
        summary: dict[str, Any] = {
            "event": "start", "connection": connection, "task": task, "trigger": trigger,
            "task_run_id": task_run_id, "attempt": attempt, "host": self.holder,
            "started_at": started.isoformat(), "state_location": self.ctx.ledger.location}
        with log_context(connection, f"task-{task_run_id}"):
            log.info("%s started (%s)", task, trigger)
            if (queued := self._elsewhere.take_wait(connection, task)) is not None:
                activity.long_wait(queued)
            try:
                with notifying(self.notifications, summary):
                    result = self._execute(connection, task)
                    retry_in = self._retry_delay(result, attempt)
                    summary.update(event=result.outcome, exit_code=result.exit_code,
                                   report=result.report, error=result.error,
                                   alerts=result.alerts, retry_in_seconds=retry_in,
                                   finished_at=self.clock().isoformat())
            except Exception as exc:  # noqa: BLE001 - a bug in one task must not stop the daemon
                log.exception("%s failed unexpectedly", task)
                result, retry_in = TaskResult("failed", EXIT_UNUSABLE, error={
                    "code": "internal-error", "message": f"{type(exc).__name__}: {exc}",
                    "retry": False}), None
            record_outcome(self.state, task_run_id, result, self.clock, waits)
            self._outcomes.task_done(connection, task, result, retry_in)
            if retry_in is not None:
                self._schedule_retry(connection, task, attempt + 1, retry_in)
        return result

    def _execute(self, connection: str, task: str) -> TaskResult:
        try:
            if task == DEADLINE_TASK:
                deadline = self.schedules[connection].expect_file_by
                assert deadline is not None
                return check_expected_file(self.ctx, self.state, deadline, self.clock())
            spec, progress = TASKS[task], LogProgress(log)
            if spec.locks_itself:
                result = spec.run(self.ctx, connection, self.clock, progress, self.lock_wait)
            else:
                with self.ctx.ledger.lock(connection, wait_seconds=self.lock_wait):
                    result = spec.run(self.ctx, connection, self.clock, progress,
                                      self.lock_wait)
        except FilebridgeError as exc:
            transient = isinstance(exc, Transient)
            return TaskResult("failed", EXIT_UNAVAILABLE if transient else EXIT_UNUSABLE,
                              error={"code": exc.code, "message": str(exc), "retry": transient})
        if task == "import" and (result.report or {}).get("files"):
            self.state.clear_alerts(connection, self.clock())  # a file arrived
        return result

    def _retry_delay(self, result: TaskResult, attempt: int) -> float | None:
        if not result.retry or self.stopping.is_set():
            return None
        if self._once_until is not None:
            first, most = ONCE_BACKOFF
            delay = min(most, first * 2 ** attempt)
            return delay if time.monotonic() + delay < self._once_until else None
        if self._scheduler is None or attempt >= len(self.retry_delays):
            return None
        return self.retry_delays[attempt]

    def _schedule_retry(self, connection: str, task: str, attempt: int, delay: float) -> None:
        if self.stopping.is_set():
            return
        if self._once_until is not None:
            self.enqueue(connection, task, "retry", attempt, delay)
            return
        if self._scheduler is None:
            return
        self._scheduler.add_job(self.enqueue, "date",
                                run_date=self.clock() + timedelta(seconds=delay),
                                args=(connection, task, "retry", attempt),
                                id=f"{connection}:{task}:retry", replace_existing=True)

    # -- requests (start-up, watch) ------------------------------------------------

    def request(self, connection: str, task: str, trigger: str) -> None:
        """Queue one run of ``task`` soon; requests for a task already queued are merged."""
        with self._guard:
            queued = self._requested.get((connection, task))
            if queued is not None and (queued != "recovery" or trigger == "recovery"):
                return
            self._requested[(connection, task)] = trigger
            if queued is not None:
                return  # the queued job now runs as a real import, not a mere recovery
        self.queue.submit(connection, (connection, task, "requested"),
                          self._in_worker(connection, lambda: self._run_requested(connection,
                                                                                  task)))

    # -- the loop --------------------------------------------------------------------

    def run_once(self, everything: bool = False) -> int:
        """Run every due task once (every scheduled one with ``everything``),
        ``max_parallel_runs`` connections at a time, retrying transient failures while
        ``once_retry_seconds`` last; returns the worst exit code."""
        by_connection: dict[str, list[tuple[str, str]]] = {}
        for connection, task, trigger in self.due_tasks(self.clock(), everything):
            by_connection.setdefault(connection, []).append((task, trigger))
        due = sum(trigger != "recovery" for runs in by_connection.values() for _, trigger in runs)
        log.info("%d task(s) due; looking for interrupted files of %d connection(s)", due,
                 sum(any(t == "recovery" for _, t in runs) for runs in by_connection.values()))
        self._once_until = time.monotonic() + self.once_retry_seconds

        def run_all(connection: str) -> None:
            for task, trigger in by_connection[connection]:
                self.run_task(connection, task, "once" if trigger == "startup" else trigger)

        try:
            for connection in by_connection:
                self.queue.submit(connection, (connection, "once"),
                                  self._in_worker(connection, partial(run_all, connection)))
            self.queue.wait_idle()
        finally:
            self.queue.close()
        log_incomplete(self.incomplete(), sorted(by_connection))
        return self.worst

    def incomplete(self) -> dict[str, dict[str, Any]]:
        """Connections whose last attempt of some task failed: name -> that task's error."""
        with self._guard:
            return incomplete(dict(self._last))

    def serve(self) -> int:
        """Run until stopped (``stop()`` or a signal); returns 0 after a clean shutdown."""
        self._scheduler = scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults=JOB_DEFAULTS,
            executors={"default": ThreadPoolExecutor(TIMER_THREADS)})
        for name, sched in self.schedules.items():
            for spec in [*sched.tasks, *([sched.expect_file_by] if sched.expect_file_by else [])]:
                scheduler.add_job(self.enqueue, spec.trigger, args=(name, spec.task),
                                  id=f"{name}:{spec.task}", name=f"{name} {spec.task}")
        pulse = Pulse(self.state, sorted(self.schedules), self.heartbeat_seconds)
        pulse.start()
        scheduler.start()
        try:
            for connection, task, trigger in self.due_tasks(self.clock()):
                self.request(connection, task, trigger)
            self._start_watches()
            log.info("daemon started for %s; state in %s", ", ".join(self.schedules) or
                     "no connection", self.ctx.ledger.location)
            while not self.stopping.wait(0.5):
                pass
        finally:
            self._shutdown(scheduler)
            pulse.stop()
        return EXIT_OK

    def _start_watches(self) -> None:
        for name, sched in self.schedules.items():
            if not sched.watch:
                continue
            transport = open_transport(self.ctx.connection(name).transport,
                                       base_dir=self.ctx.settings.base_dir,
                                       spool_dir=self.ctx.spool_dir(name))
            transport.watch(lambda _file, c=name: self.request(c, "import", "watch"))  # type: ignore[attr-defined]
            self._watched.append(transport)
            log.info("watching the inbox of %s", name)

    def stop(self) -> None:
        """Ask the loop to stop; running tasks finish first."""
        self.stopping.set()

    def _shutdown(self, scheduler: BackgroundScheduler) -> None:
        self.stopping.set()
        log.info("stopping: no new runs; waiting for running tasks to finish")
        for transport in self._watched:
            transport.close()
        scheduler.shutdown(wait=True)
        self.queue.close()  # waiting tasks are dropped; running ones finish
        log.info("stopped cleanly")

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: first stops cleanly, a second one exits at once."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            if self.stopping.is_set():
                # Safe even mid-apply: the uncommitted transaction is rolled back.
                os.write(2, b"second signal: exiting now\n")
                os._exit(EXIT_FORCED)
            log.info("%s received: shutting down", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
