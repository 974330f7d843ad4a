"""Manual runs recorded like the daemon's, so ``status`` reflects every attempt.

``status`` tells Connected from Connection error by the latest import attempt in
``task_runs``. A ``filebridge sync`` typed by a person is such an attempt too: it is
recorded with the trigger ``manual`` and its outcome, failures included (a changed
host key, a server that is down), exactly as the daemon records its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from filebridge.daemon.tasks import sync_result
from filebridge.errors import FilebridgeError, Transient
from filebridge.ledger.ledger import current_holder
from filebridge.pipeline.context import Context
from filebridge.pipeline.pickup import SyncReport, settle_seconds, sync_connection
from filebridge.pipeline.report import EXIT_UNAVAILABLE, EXIT_UNUSABLE, Progress


def manual_sync(ctx: Context, connection: str, *, progress: Progress | None = None,
                wait_seconds: float | None = None,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> SyncReport:
    """``sync_connection`` recorded as an import task run (trigger ``manual``)."""
    ctx.connection(connection)  # an unknown name is an error, never a recorded run
    wait = settle_seconds(ctx, connection) if wait_seconds is None else wait_seconds
    state = ctx.ledger.daemon_state
    task_id = state.start_task(connection, "import", "manual", current_holder(), clock())
    try:
        report = sync_connection(ctx, connection, progress=progress, wait_seconds=wait)
    except FilebridgeError as exc:
        transient = isinstance(exc, Transient)
        state.finish_task(task_id, "failed", EXIT_UNAVAILABLE if transient else EXIT_UNUSABLE,
                          {"code": exc.code, "message": str(exc), "retry": transient},
                          clock())
        raise
    except BaseException as exc:
        state.finish_task(task_id, "failed", EXIT_UNUSABLE,
                          {"code": "interrupted", "message": type(exc).__name__,
                           "retry": True}, clock())
        raise
    result = sync_result(report)
    state.finish_task(task_id, result.outcome, result.exit_code, result.error, clock())
    return report
