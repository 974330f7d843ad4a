"""What becomes of a finished task: its record in the ledger and its log lines.

The outcome must reach the ledger even when the database is busy for a moment (a
task left without one would look as if it still ran), and the same failure on every
run is logged once, then as an hourly reminder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from filebridge.activity import LongWait
from filebridge.daemon.tasks import TaskResult
from filebridge.errors import FilebridgeError, Transient
from filebridge.ledger.daemon_state import DaemonState
from filebridge.ledger.locks import ConnectionBusy
from filebridge.repeats import Repeats

log = logging.getLogger("filebridge.daemon.runner")  # the daemon's lines keep one logger

BUSY = ConnectionBusy.code
RECORD_PAUSES = (0.5, 2.0, 5.0)  # seconds between attempts to record an outcome


def record_outcome(state: DaemonState, task_run_id: int, result: TaskResult,
                   clock: Callable[[], datetime], waits: list[LongWait] | None = None) -> None:
    """Write ``result`` (and the task's long waits) as the outcome of task run
    ``task_run_id``, retrying while the database is busy."""
    for pause in (*RECORD_PAUSES, None):
        try:
            state.finish_task(task_run_id, result.outcome, result.exit_code, result.error,
                              clock(), [w.to_dict() for w in waits or []])
            return
        except FilebridgeError as exc:
            if pause is None or not isinstance(exc, Transient):
                log.warning("task result not recorded: %s", exc)
                return
            time.sleep(pause)


class OutcomeLog:
    """The log lines of finished tasks, each repeating failure said once per change."""

    def __init__(self) -> None:
        self._repeats = Repeats()

    def task_done(self, connection: str, task: str, result: TaskResult,
                  retry_in: float | None) -> None:
        """One line for a finished task: its outcome, error and next retry."""
        report = result.report or {}
        files = report.get("files")
        detail = f", {len(files)} file(s)" if isinstance(files, list) else ""
        if not result.error:
            if self._repeats.cleared((connection, task)):
                log.info("%s works again", task)
            log.info("%s %s (exit %d)%s", task, result.outcome, result.exit_code, detail)
            return
        again = f"; retry in {retry_in:.0f} s" if retry_in is not None else ""
        # Another process running the connection is how sharing works, not a problem.
        level = logging.INFO if result.error.get("code") == BUSY else logging.ERROR
        say, quiet = self._repeats.news((connection, task), str(result.error.get("message")))
        if not say:
            level = logging.DEBUG
        elif quiet:
            again += f" (unchanged; {quiet} more time(s) since it was last logged)"
        log.log(level, "%s %s (exit %d): %s%s", task, result.outcome, result.exit_code,
                result.error.get("message"), again)


def incomplete(last: dict[tuple[str, str], TaskResult]) -> dict[str, dict[str, Any]]:
    """Connections whose last attempt of some task failed: name -> that task's error."""
    return {connection: {"task": task, **(result.error or {})}
            for (connection, task), result in sorted(last.items())
            if result.outcome == "failed"}


def log_incomplete(failed: dict[str, dict[str, Any]], connections: list[str]) -> None:
    """One line at the end of ``run --once``: all completed, or which did not and why."""
    if not failed:
        log.info("all %d connection(s) completed", len(connections))
        return
    log.warning("%d of %d connection(s) did not complete: %s",
                len(failed), len(connections),
                "; ".join(f"{c} ({e['task']}: {e.get('code')}: {e.get('message')})"
                          for c, e in failed.items()))
