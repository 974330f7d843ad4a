"""What ``filebridge status`` shows, computed from the ledger, the schedules and heartbeats.

Per connection: whether its source is reachable (from the last import attempt),
its last successful sync and file, its next scheduled runs, runs held for approval
and open missing-file alerts; and whether a daemon is alive. A library function, so
a monitoring script can call it without the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class DaemonProcess:
    """One daemon's last heartbeat."""

    holder: str
    started_at: datetime
    last_heartbeat: datetime
    alive: bool
    connections: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"holder": self.holder, "started_at": _iso(self.started_at),
                "last_heartbeat": _iso(self.last_heartbeat), "alive": self.alive,
                "connections": self.connections}


@dataclass(frozen=True)
class LastSync:
    """The last applied import, replay or approval of a connection."""

    run_id: int
    at: datetime | None
    file: str | None
    file_id: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"run_id": self.run_id, "at": _iso(self.at), "file": self.file,
                "file_id": self.file_id}


@dataclass(frozen=True)
class NextRun:
    """When a scheduled task of a connection fires next (None: never again)."""

    task: str
    at: datetime | None
    cron: str
    timezone: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"task": self.task, "at": _iso(self.at), "cron": self.cron,
                "timezone": self.timezone}


@dataclass(frozen=True)
class HeldRun:
    """A run waiting for approval, with its file."""

    run_id: int
    file: str | None
    file_id: int | None
    started_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"run_id": self.run_id, "file": self.file, "file_id": self.file_id,
                "started_at": _iso(self.started_at)}


@dataclass(frozen=True)
class ConnectionStatus:
    """One connection's entry of the status."""

    name: str
    status: ConnectionState
    reason: str | None
    last_sync: LastSync | None
    next_runs: tuple[NextRun, ...]
    held_runs: tuple[HeldRun, ...]
    alerts: tuple[Alert, ...]
    tasks: tuple[TaskRun, ...]
    lock: dict[str, Any] | None = None  # who holds the run lock now, if anyone
    lms: dict[str, Any] | None = None  # the connection's LMS target and whether it answers

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {
            "name": self.name, "status": self.status, "status_text": LABELS[self.status],
            "reason": self.reason,
            "last_sync": None if self.last_sync is None else self.last_sync.to_dict(),
            "next_runs": [r.to_dict() for r in self.next_runs],
            "held_runs": [h.to_dict() for h in self.held_runs],
            "alerts": [a.to_dict() for a in self.alerts],
            "tasks": [t.to_dict() for t in self.tasks],
            "lock": self.lock,
            "lms": self.lms,
        }


@dataclass(frozen=True)
class Status:
    """The whole status: every daemon's heartbeat and every connection's condition."""

    now: datetime
    state_location: str
    daemons: tuple[DaemonProcess, ...]
    connections: tuple[ConnectionStatus, ...]

    @property
    def alive(self) -> bool:
        """True while some daemon's heartbeat is fresh."""
        return any(d.alive for d in self.daemons)

    def to_dict(self) -> dict[str, Any]:
        """The ``status --json`` document (keys documented in README)."""
        return {"now": self.now.isoformat(), "state_location": self.state_location,
                "daemon": {"alive": self.alive,
                           "daemons": [d.to_dict() for d in self.daemons]},
                "connections": [c.to_dict() for c in self.connections]}


def status(ctx: Context, schedules: dict[str, ConnectionSchedule],
           now: datetime | None = None) -> Status:
    """The whole status (``to_dict()`` is the ``status --json`` document)."""
    now = now or datetime.now(UTC)
    state = ctx.ledger.daemon_state
    daemons = tuple(DaemonProcess(b.holder, b.started_at, b.beat_at, b.alive(now),
                                  b.connections) for b in state.heartbeats())
    return Status(now, ctx.ledger.location, daemons, tuple(
        connection_status(ctx, state, name, schedules.get(name), now)
        for name in sorted(ctx.settings.connections)))


def connection_status(ctx: Context, state: DaemonState, name: str,
                      schedule: ConnectionSchedule | None, now: datetime) -> ConnectionStatus:
    """One connection's entry of the status."""
    runs = ctx.ledger.runs(name, limit=RECENT_RUNS)
    files = {f.id: f for f in ctx.ledger.files(name, limit=RECENT_RUNS)}
    tasks = state.latest_tasks(name)
    newest_file = max((f.received_at.replace(tzinfo=f.received_at.tzinfo or UTC)
                       for f in files.values()), default=None)
    alerts = [a for a in state.open_alerts(name)
              if newest_file is None or newest_file <= a.deadline]  # no file since: still open
    condition, reason = _condition(runs, tasks, alerts)
    return ConnectionStatus(name, condition, reason, _last_sync(runs, files),
                            _next_runs(schedule, now), _held(runs, files), tuple(alerts),
                            tuple(tasks), _lock(ctx, name), lms_status(ctx, name))


def _lock(ctx: Context, name: str) -> dict[str, Any] | None:
    """Who holds the connection's run lock now (a run in progress, or a dead holder's)."""
    state = ctx.ledger.lock_state(name)
    if state is None:
        return None
    return {"holder": state.holder, "described": state.describe(), "alive": state.alive,
            "since": _iso(state.acquired_at), "heartbeat_at": _iso(state.heartbeat_at)}


def lms_status(ctx: Context, name: str) -> dict[str, Any]:
    """The LMS the connection feeds; an external one is asked whether it answers."""
    target = ctx.target(name)
    probe = getattr(target, "reachability", None)
    if probe is None:
        return {"type": "builtin", "location": target.location, "reachable": None,
                "detail": ""}
    reachable, detail = probe(name)
    kind = (ctx.connection(name).lms or {}).get("type", "scim")
    return {"type": kind, "location": target.location, "reachable": reachable,
            "detail": detail}


def _condition(runs: list[RunRecord], tasks: list[TaskRun],
               alerts: list[Alert]) -> tuple[ConnectionState, str | None]:
    """From the last run of every kind: a source or database out of reach (a transient
    failure of any task) beats an alert, which beats any other failure of the latest
    task of each kind or a latest file run that was rejected or failed."""
    finished = [t for t in tasks if t.finished_at]
    for task in finished:
        if task.error and task.error.get("retry"):
            return "connection-error", f"{task.task}: {task.error.get('message')}"
    if alerts:
        return "error", alerts[-1].message
    for task in finished:
        if task.error:
            return "error", f"{task.task}: {task.error.get('message')}"
    latest = next((r for r in runs if r.kind == "import" and r.state != "running"), None)
    if latest is not None and latest.state in ("rejected", "failed"):
        why = (latest.error or {}).get("message") or f"the file of run {latest.id} was unusable"
        return "error", f"run {latest.id} {latest.state}: {why}"
    if not runs and not any(t.task == "import" for t in finished):
        return "never-synced", None
    return "connected", None


def _last_sync(runs: list[RunRecord], files: dict[int, FileRecord]) -> LastSync | None:
    run = next((r for r in runs if r.kind in SYNC_KINDS and r.state == "applied"), None)
    if run is None:
        return None
    file = files.get(run.file_id) if run.file_id is not None else None
    return LastSync(run.id, _utc(run.finished_at or run.started_at),
                    file.name if file else None, run.file_id)


def _next_runs(schedule: ConnectionSchedule | None, now: datetime) -> tuple[NextRun, ...]:
    if schedule is None:
        return ()
    specs = [*schedule.tasks, *([schedule.expect_file_by] if schedule.expect_file_by else [])]
    timed = sorted(((spec.next_fire(now), spec) for spec in specs),
                   key=lambda pair: (pair[0] is None, pair[0] or now))
    return tuple(NextRun(spec.task, at, spec.cron, spec.timezone) for at, spec in timed)


def _held(runs: list[RunRecord], files: dict[int, FileRecord]) -> tuple[HeldRun, ...]:
    """Held runs whose file is still held (an approval or forced replay applies it)."""
    held = []
    for r in runs:
        file = files.get(r.file_id) if r.file_id is not None else None
        if r.state == "held" and (file is None or file.state == "held"):
            held.append(HeldRun(r.id, file.name if file else None, r.file_id,
                                _utc(r.started_at)))
    return tuple(held)
