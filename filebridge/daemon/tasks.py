"""The task table: what ``import``, ``export``, ``cleanup``, ``verify`` and
``expect-file`` do.

The daemon only knows task names; each entry calls one pipeline function (imported
lazily, so the daemon does not depend on their internals or on their import cost)
and turns its report into a ``TaskResult``: an outcome for notifications and
status, an exit code, and the report itself as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from filebridge.daemon.schedule import DEADLINE_TASK, TaskSchedule
from filebridge.ledger.daemon_state import DaemonState
from filebridge.pipeline.context import Context
from filebridge.pipeline.pickup import SyncReport
from filebridge.pipeline.report import (
    EXIT_OK,
    EXIT_REJECTED_OR_HELD,
    EXIT_UNAVAILABLE,
    EXIT_UNUSABLE,
    Progress,
)
from filebridge.transports import open_transport

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class TaskResult:
    """How one task ended: outcome (a notification event), exit code, report, error."""

    outcome: str  # success, idle, rejected, held, failed, missing-file
    exit_code: int
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # {"code", "message", "retry"}
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def retry(self) -> bool:
        """True when a later attempt may succeed (the failure was transient)."""
        return bool(self.error and self.error.get("retry"))


@dataclass(frozen=True)
class TaskSpec:
    """One entry of the task table."""

    run: Callable[[Context, str, Clock, Progress | None, float], TaskResult]
    # import takes the connection lock itself (per file, inside ``run_import``); the
    # daemon holds it around every other task.
    locks_itself: bool = False


def import_task(ctx: Context, connection: str, clock: Clock,
                progress: Progress | None,
                lock_wait: float = 0.0) -> TaskResult:
    """Pick up and import every finished file of ``connection`` (``sync_connection``)."""
    from filebridge.pipeline import pickup

    report = pickup.sync_connection(ctx, connection, now=clock, progress=progress,
                                    wait_seconds=pickup.settle_seconds(ctx, connection),
                                    lock_wait=lock_wait)
    return sync_result(report)


def sync_result(report: SyncReport) -> TaskResult:
    """A sync's report as a task's result (the daemon's and a manual ``sync``'s alike)."""
    data = report.to_dict()
    if data["errors"]:
        first = data["errors"][0]
        error = {"code": first.get("code"), "message": first.get("message"),
                 "retry": bool(first.get("retry"))}
        return TaskResult("failed", report.exit_code, data, error)
    states = {f["state"] for f in data["files"]}
    if "held" in states:
        outcome = "held"
    elif "rejected" in states or any(f["rejected_rows"] for f in data["files"]):
        outcome = "rejected"
    else:
        outcome = "success" if data["files"] else "idle"
    return TaskResult(outcome, report.exit_code, data)


def export_task(ctx: Context, connection: str, clock: Clock,
                progress: Progress | None,
                lock_wait: float = 0.0) -> TaskResult:
    """Deliver ``connection``'s new completions to its outbox (``export_connection``)."""
    from filebridge.pipeline import exporter

    report = exporter.export_connection(ctx, connection, now=clock())
    data = report.to_dict()
    if data.get("error") or report.exit_code >= EXIT_UNUSABLE:
        error = dict(data.get("error") or {})
        error = {"code": error.get("code"), "message": error.get("message"),
                 "retry": bool(error.get("transient") or report.exit_code == EXIT_UNAVAILABLE)}
        return TaskResult("failed", report.exit_code, data, error)
    return TaskResult("success" if data.get("state") == "delivered" else "idle",
                      report.exit_code, data)


def cleanup_task(ctx: Context, connection: str, clock: Clock,
                 progress: Progress | None,
                 lock_wait: float = 0.0) -> TaskResult:
    """Remove what is older than the connection's retention (``filebridge cleanup``)."""
    from filebridge.pipeline.retention import cleanup

    report = cleanup(ctx, connection, clock(), lock=False)  # the runner holds the lock
    data = {**report.counts, **report.retention.__dict__}
    return TaskResult("success" if any(report.counts.values()) else "idle", EXIT_OK, data)


def verify_task(ctx: Context, connection: str, clock: Clock,
                progress: Progress | None, lock_wait: float = 0.0) -> TaskResult:
    """Read the connection's external LMS (SCIM, Moodle) and report drift (``filebridge
    verify``, no repair): drift is notified as ``rejected`` so someone looks at it."""
    from filebridge.pipeline.drift import verify

    data = verify(ctx, connection, False, clock(), lock=False)
    if data["clean"]:
        return TaskResult("success", EXIT_OK, data)
    return TaskResult("rejected", EXIT_REJECTED_OR_HELD, data)


TASKS: dict[str, TaskSpec] = {
    "import": TaskSpec(import_task, locks_itself=True),
    "export": TaskSpec(export_task),
    "cleanup": TaskSpec(cleanup_task),
    "verify": TaskSpec(verify_task),
}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def check_expected_file(ctx: Context, state: DaemonState, deadline: TaskSchedule,
                        now: datetime) -> TaskResult:
    """At a deadline: if no file arrived since the one before, raise a missing-file alert.

    Idempotent: one alert per deadline however often it is checked, so a restart or a
    second daemon never repeats the notification.
    """
    assert deadline.task == DEADLINE_TASK
    due = deadline.previous_fire(now)
    if due is None:
        return TaskResult("idle", EXIT_OK)
    before = deadline.previous_fire(due - timedelta(microseconds=1))
    newest = ctx.ledger.files(deadline.connection, limit=1)
    arrived = newest and (before is None or _utc(newest[0].received_at) > before)
    report = {"deadline": due.isoformat(),
              "previous_deadline": before.isoformat() if before else None,
              "last_file_received_at": _utc(newest[0].received_at).isoformat()
              if newest else None}
    if arrived:
        return TaskResult("idle", EXIT_OK, report)
    since = f" since {before:%Y-%m-%d %H:%M %Z}" if before else ""
    message = (f"no file arrived for {deadline.connection} by {due:%Y-%m-%d %H:%M %Z}{since}")
    alert = state.raise_alert(deadline.connection, "missing-file", due, message, now)
    if alert is None:  # already raised (and notified) for this deadline
        return TaskResult("idle", EXIT_OK, report)
    log.warning("missing file: %s", message)
    return TaskResult("missing-file", EXIT_REJECTED_OR_HELD, report,
                      alerts=[alert.to_dict()])


def has_pending_claims(ctx: Context, connection: str) -> bool:
    """True when files of ``connection`` wait in processing/ (a run was interrupted)."""
    transport = open_transport(ctx.connection(connection).transport,
                               base_dir=ctx.settings.base_dir,
                               spool_dir=ctx.spool_dir(connection))
    try:
        return bool(transport.pending_claims())
    finally:
        transport.close()
