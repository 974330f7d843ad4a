"""Which tasks are due: missed or never-run scheduled tasks, and recovery imports.

APScheduler forgets everything on restart, so what is due at start-up (and for
``run --once``) is decided from the ledger's record of finished task runs.
"""

from __future__ import annotations

from datetime import datetime

from filebridge.daemon.schedule import DEADLINE_TASK, ConnectionSchedule
from filebridge.ledger.daemon_state import DaemonState

# Order of a connection's due tasks in one pass: fresh files first, then what depends on them.
TASK_ORDER = ("import", "export", "cleanup", "verify", DEADLINE_TASK)


def due_tasks(schedules: dict[str, ConnectionSchedule], state: DaemonState, now: datetime,
              *, everything: bool = False) -> list[tuple[str, str, str]]:
    """(connection, task, trigger) to run now: missed or never run; else recovery imports.

    A connection's import that is not due still runs as ``recovery`` when files of an
    interrupted run wait in processing/ (checked when it runs). ``everything`` makes
    every scheduled task due now (``run --once --now``), the missing-file check aside:
    its deadline means something only at its own time.
    """
    due = []
    for name, sched in schedules.items():
        for task in TASK_ORDER:
            spec = sched.task(task)
            if spec is not None:
                if everything and task != DEADLINE_TASK:
                    due.append((name, task, "startup"))
                    continue
                last = state.last_finished(name, task)
                if spec.is_due(last.started_at if last else None, now):
                    due.append((name, task, "startup"))
                    continue
            if task == "import" and (spec is not None or sched.watch):
                due.append((name, task, "recovery"))
    return due
