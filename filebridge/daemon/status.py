"""What ``filebridge status`` shows, computed from the ledger, the schedules and heartbeats.

Per connection: whether its source is reachable (from the last import attempt),
its last successful sync and file, its next scheduled runs, runs held for approval
and open missing-file alerts; and whether a daemon is alive. A library function, so
a monitoring script can call it without the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from filebridge.daemon.schedule import ConnectionSchedule
from filebridge.ledger import FileRecord, RunRecord
from filebridge.ledger.daemon_state import Alert, DaemonState, TaskRun
from filebridge.pipeline.context import Context

ConnectionState = Literal["connected", "connection-error", "error", "never-synced"]
LABELS: dict[str, str] = {"connected": "Connected", "connection-error": "Connection error",
                          "error": "Error", "never-synced": "Never synced"}
SYNC_KINDS = ("import", "replay", "approve")
RECENT_RUNS = 500  # runs looked at per connection for the last sync and held runs


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def status(ctx: Context, schedules: dict[str, ConnectionSchedule],
           now: datetime | None = None) -> dict[str, Any]:
    """The whole status as a JSON-ready dict (the ``status --json`` document)."""
    now = now or datetime.now(UTC)
    state = ctx.ledger.daemon_state
    beats = state.heartbeats()
    daemons = [{"holder": b.holder, "started_at": _iso(b.started_at),
                "last_heartbeat": _iso(b.beat_at), "alive": b.alive(now),
                "connections": b.connections} for b in beats]
    return {
        "now": now.isoformat(),
        "state_location": ctx.ledger.location,
        "daemon": {"alive": any(d["alive"] for d in daemons), "daemons": daemons},
        "connections": [connection_status(ctx, state, name, schedules.get(name), now)
                        for name in sorted(ctx.settings.connections)],
    }


def connection_status(ctx: Context, state: DaemonState, name: str,
                      schedule: ConnectionSchedule | None, now: datetime) -> dict[str, Any]:
    """One connection's entry of the status document."""
    runs = ctx.ledger.runs(name, limit=RECENT_RUNS)
    files = {f.id: f for f in ctx.ledger.files(name, limit=RECENT_RUNS)}
    tasks = state.latest_tasks(name)
    newest_file = max((f.received_at.replace(tzinfo=f.received_at.tzinfo or UTC)
                       for f in files.values()), default=None)
    alerts = [a for a in state.open_alerts(name)
              if newest_file is None or newest_file <= a.deadline]  # no file since: still open
    condition, reason = _condition(runs, tasks, alerts)
    return {
        "name": name,
        "status": condition,
        "status_text": LABELS[condition],
        "reason": reason,
        "last_sync": _last_sync(runs, files),
        "next_runs": _next_runs(schedule, now),
        "held_runs": _held(runs, files),
        "alerts": [a.to_dict() for a in alerts],
        "tasks": [t.to_dict() for t in tasks],
        "lms": lms_status(ctx, name),
    }


def lms_status(ctx: Context, name: str) -> dict[str, Any]:
    """The LMS the connection feeds; an external one is asked whether it answers."""
    target = ctx.target(name)
    probe = getattr(target, "reachability", None)
    if probe is None:
        return {"type": "builtin", "location": target.location, "reachable": None,
                "detail": ""}
    reachable, detail = probe(name)
    return {"type": "scim", "location": target.location, "reachable": reachable,
            "detail": detail}


def _condition(runs: list[RunRecord], tasks: list[TaskRun],
               alerts: list[Alert]) -> tuple[ConnectionState, str | None]:
    """Connection error (last import attempt could not reach the source) beats an alert."""
    last_import = next((t for t in tasks if t.task == "import" and t.finished_at), None)
    error = last_import.error if last_import else None
    if error and error.get("retry"):
        return "connection-error", str(error.get("message"))
    if alerts:
        return "error", alerts[-1].message
    if error:
        return "error", str(error.get("message"))
    if not runs and last_import is None:
        return "never-synced", None
    return "connected", None


def _last_sync(runs: list[RunRecord], files: dict[int, FileRecord]) -> dict[str, Any] | None:
    run = next((r for r in runs if r.kind in SYNC_KINDS and r.state == "applied"), None)
    if run is None:
        return None
    file = files.get(run.file_id) if run.file_id is not None else None
    return {"run_id": run.id, "at": _iso(_utc(run.finished_at or run.started_at)),
            "file": file.name if file else None, "file_id": run.file_id}


def _next_runs(schedule: ConnectionSchedule | None, now: datetime) -> list[dict[str, Any]]:
    if schedule is None:
        return []
    specs = [*schedule.tasks, *([schedule.expect_file_by] if schedule.expect_file_by else [])]
    timed = sorted(((spec.next_fire(now), spec) for spec in specs),
                   key=lambda pair: (pair[0] is None, pair[0] or now))
    return [{"task": spec.task, "at": _iso(at), "cron": spec.cron, "timezone": spec.timezone}
            for at, spec in timed]


def _held(runs: list[RunRecord], files: dict[int, FileRecord]) -> list[dict[str, Any]]:
    """Held runs whose file is still held (an approval or forced replay applies it)."""
    held = []
    for r in runs:
        file = files.get(r.file_id) if r.file_id is not None else None
        if r.state == "held" and (file is None or file.state == "held"):
            held.append({"run_id": r.id, "file": file.name if file else None,
                         "file_id": r.file_id, "started_at": _iso(_utc(r.started_at))})
    return held
