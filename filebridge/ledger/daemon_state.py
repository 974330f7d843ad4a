"""What the daemon keeps in the ledger: task runs, missing-file alerts and heartbeats.

APScheduler's memory job store forgets everything on restart, so whether a scheduled
task was missed is decided from ``task_runs`` (when each task last ran to its end),
and whether a daemon is alive from ``heartbeats`` (one row per daemon process). Both
live in the ledger, so ``filebridge status`` and a second daemon on the same state
store see them too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.sql import reading

metadata = sa.MetaData()

task_runs = sa.Table(
    "task_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("task", sa.String(16), nullable=False),  # import, export, cleanup, expect-file
    sa.Column("trigger", sa.String(16), nullable=False),  # schedule, startup, watch, retry, once
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    # success, idle, rejected, held, failed, missing-file; NULL while running.
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),  # {"code", "message", "retry"}
    # Waits for a lock longer than the warning threshold: [{"lock", "seconds", "holder", ...}]
    sa.Column("waits", sa.Text, nullable=True),
    sa.Index("ix_task_runs_connection_task", "connection", "task", "id"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    # One alert per deadline, however many daemons or restarts check it.
    sa.UniqueConstraint("connection", "kind", "deadline", name="uq_alerts_deadline"),
)

heartbeats = sa.Table(
    "heartbeats",
    metadata,
    sa.Column("holder", sa.String(300), primary_key=True),  # host:pid of the daemon
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("interval_seconds", sa.Float, nullable=False),
    sa.Column("connections", sa.Text, nullable=False, server_default="[]"),
)


def create_daemon_tables(conn: Connection) -> None:
    """Ledger migration 0004: task runs, alerts and heartbeats (skipped where they exist)."""
    metadata.create_all(conn, checkfirst=True)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class TaskRun:
    """One execution of a scheduled task by a daemon (or ``run --once``)."""

    id: int
    connection: str
    task: str
    trigger: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    exit_code: int | None
    error: dict[str, Any] | None
    waits: list[dict[str, Any]] | None = None  # long waits for a lock (see ``activity``)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by ``status --json``)."""
        return {"id": self.id, "task": self.task, "trigger": self.trigger,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "outcome": self.outcome, "exit_code": self.exit_code, "error": self.error,
                "waits": self.waits or []}


@dataclass(frozen=True)
class Alert:
    """A missing-file alert: no file arrived for ``connection`` by ``deadline``."""

    id: int
    connection: str
    kind: str
    deadline: datetime
    raised_at: datetime
    cleared_at: datetime | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by ``status --json``)."""
        return {"id": self.id, "kind": self.kind, "deadline": self.deadline.isoformat(),
                "raised_at": self.raised_at.isoformat(), "message": self.message}


@dataclass(frozen=True)
class Heartbeat:
    """The last sign of life of one daemon process."""

    holder: str
    started_at: datetime
    beat_at: datetime
    interval_seconds: float
    connections: list[str]

    def alive(self, now: datetime) -> bool:
        """Alive while the last beat is younger than three intervals (one may be slow)."""
        return now - self.beat_at <= timedelta(seconds=3 * self.interval_seconds + 5)


class DaemonState:
    """The daemon's tables in the ledger database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- task runs -------------------------------------------------------------

    def start_task(self, connection: str, task: str, trigger: str, holder: str,
                   now: datetime) -> int:
        """Record a task as started; returns its id (the ``run_id`` of its log lines)."""
        now = now.astimezone(UTC)
        with self.engine.begin() as tx:
            return int(tx.scalar(task_runs.insert().values(
                connection=connection, task=task, trigger=trigger, holder=holder,
                started_at=now).returning(task_runs.c.id)))

    def finish_task(self, task_run_id: int, outcome: str, exit_code: int,
                    error: dict[str, Any] | None, now: datetime,
                    waits: list[dict[str, Any]] | None = None) -> None:
        """Record how a task ended (and the long waits for a lock it met)."""
        now = now.astimezone(UTC)
        with self.engine.begin() as tx:
            tx.execute(task_runs.update().where(task_runs.c.id == task_run_id).values(
                finished_at=now, outcome=outcome, exit_code=exit_code,
                error=None if error is None else json.dumps(error, default=str),
                waits=json.dumps(waits, default=str) if waits else None))

    def last_finished(self, connection: str, task: str) -> TaskRun | None:
        """The latest task run of ``connection`` that ran to its end (whatever its outcome)."""
        stmt = (sa.select(task_runs).where(task_runs.c.connection == connection,
                                           task_runs.c.task == task,
                                           task_runs.c.finished_at.is_not(None))
                .order_by(task_runs.c.id.desc()).limit(1))
        with reading(self.engine) as conn:
            row = conn.execute(stmt).first()
        return _task_run(row._mapping) if row else None

    def latest_tasks(self, connection: str) -> list[TaskRun]:
        """The latest run of each task of ``connection``, running or finished."""
        newest = (sa.select(sa.func.max(task_runs.c.id))
                  .where(task_runs.c.connection == connection)
                  .group_by(task_runs.c.task).scalar_subquery())
        stmt = sa.select(task_runs).where(task_runs.c.id.in_(newest)).order_by(task_runs.c.task)
        with reading(self.engine) as conn:
            return [_task_run(r._mapping) for r in conn.execute(stmt)]

    def prune_tasks(self, connection: str, before: datetime, dry_run: bool = False) -> int:
        """Delete task runs older than ``before``, keeping the latest of each task (with
        ``dry_run``, only count them)."""
        before = before.astimezone(UTC)
        keep = (sa.select(sa.func.max(task_runs.c.id))
                .where(task_runs.c.connection == connection)
                .group_by(task_runs.c.task).scalar_subquery())
        where = (task_runs.c.connection == connection, task_runs.c.started_at < before,
                 task_runs.c.id.not_in(keep))
        with self.engine.begin() as tx:
            if dry_run:
                return int(tx.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
            return int(tx.execute(task_runs.delete().where(*where)).rowcount)

    # -- alerts ----------------------------------------------------------------

    def raise_alert(self, connection: str, kind: str, deadline: datetime, message: str,
                    now: datetime) -> Alert | None:
        """Record an alert for ``deadline``; None if one was already raised for it."""
        # SQLite stores datetimes without their offset: compare and store UTC only.
        deadline, now = deadline.astimezone(UTC), now.astimezone(UTC)
        with self.engine.begin() as tx:
            exists = tx.scalar(sa.select(alerts.c.id).where(
                alerts.c.connection == connection, alerts.c.kind == kind,
                alerts.c.deadline == deadline))
            if exists is not None:
                return None
            alert_id = int(tx.scalar(alerts.insert().values(
                connection=connection, kind=kind, deadline=deadline, raised_at=now,
                message=message).returning(alerts.c.id)))
        return Alert(alert_id, connection, kind, deadline, now, None, message)

    def clear_alerts(self, connection: str, now: datetime) -> int:
        """Clear the open alerts of ``connection`` (a file arrived); returns how many."""
        now = now.astimezone(UTC)
        with self.engine.begin() as tx:
            return int(tx.execute(alerts.update().where(
                alerts.c.connection == connection, alerts.c.cleared_at.is_(None))
                .values(cleared_at=now)).rowcount)

    def open_alerts(self, connection: str) -> list[Alert]:
        """Alerts of ``connection`` not cleared yet, oldest first."""
        stmt = (sa.select(alerts).where(alerts.c.connection == connection,
                                        alerts.c.cleared_at.is_(None)).order_by(alerts.c.id))
        with reading(self.engine) as conn:
            return [_alert(r._mapping) for r in conn.execute(stmt)]

    def prune_alerts(self, connection: str, before: datetime, dry_run: bool = False) -> int:
        """Delete cleared alerts older than ``before`` (with ``dry_run``, only count them)."""
        before = before.astimezone(UTC)
        where = (alerts.c.connection == connection, alerts.c.cleared_at.is_not(None),
                 alerts.c.raised_at < before)
        with self.engine.begin() as tx:
            if dry_run:
                return int(tx.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
            return int(tx.execute(alerts.delete().where(*where)).rowcount)

    # -- heartbeats ------------------------------------------------------------

    def beat(self, holder: str, started_at: datetime, interval_seconds: float,
             connections: list[str], now: datetime) -> None:
        """Record that the daemon ``holder`` is alive."""
        now, started_at = now.astimezone(UTC), started_at.astimezone(UTC)
        values = {"beat_at": now, "interval_seconds": interval_seconds,
                  "connections": json.dumps(connections)}
        with self.engine.begin() as tx:
            found = tx.execute(heartbeats.update().where(heartbeats.c.holder == holder)
                               .values(values)).rowcount
            if not found:
                tx.execute(heartbeats.insert().values(holder=holder, started_at=started_at,
                                                      **values))

    def stop_beating(self, holder: str) -> None:
        """Remove the daemon's heartbeat at a clean shutdown."""
        with self.engine.begin() as tx:
            tx.execute(heartbeats.delete().where(heartbeats.c.holder == holder))

    def heartbeats(self) -> list[Heartbeat]:
        """Every daemon's last heartbeat, newest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(heartbeats).order_by(heartbeats.c.beat_at.desc()))
            return [Heartbeat(r.holder, _utc(r.started_at) or r.started_at,
                              _utc(r.beat_at) or r.beat_at, float(r.interval_seconds),
                              list(json.loads(r.connections))) for r in rows]


def _task_run(row: Any) -> TaskRun:
    values = dict(row)
    values["started_at"] = _utc(values["started_at"])
    values["finished_at"] = _utc(values["finished_at"])
    values["error"] = json.loads(values["error"]) if values["error"] else None
    values["waits"] = json.loads(values["waits"]) if values.get("waits") else None
    return TaskRun(**values)


def _alert(row: Any) -> Alert:
    values = dict(row)
    for key in ("deadline", "raised_at", "cleared_at"):
        values[key] = _utc(values[key])
    return Alert(**values)
