"""Read-only queries for the admin pages: runs by filter with paging, and applied runs
in numbers for a chart per night.

Neither reads whole reports: the run search leaves them out and the chart reads the
counts and the report's ``rows`` (the database extracts that one number), so a page
costs a small query, not the plans of every run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.ledger.ledger import Ledger, RunRecord
from filebridge.ledger.schema import files, runs
from filebridge.sql import reading

APPLYING_KINDS = ("import", "replay", "approve")


@dataclass(frozen=True)
class AppliedRun:
    """One applied run: when, how many rows its file had, and what it changed."""

    run_id: int
    started_at: datetime
    rows: int
    counts: dict[str, Any]


def _rows_of_report(engine: Engine) -> sa.ColumnElement[Any]:
    if engine.dialect.name == "sqlite":
        return sa.func.json_extract(runs.c.report, "$.rows")
    from sqlalchemy.dialects.postgresql import JSONB  # only on PostgreSQL installs

    return sa.cast(runs.c.report, JSONB)["rows"].astext


def applied_runs(ledger: Ledger, connection: str, since: datetime) -> list[AppliedRun]:
    """Applied import, replay and approve runs of ``connection`` started at or after ``since``."""
    engine = ledger.engine
    stmt = (sa.select(runs.c.id, runs.c.started_at, runs.c.counts,
                      _rows_of_report(engine).label("rows"))
            .where(runs.c.connection == connection, runs.c.state == "applied",
                   runs.c.kind.in_(APPLYING_KINDS), runs.c.started_at >= since)
            .order_by(runs.c.id))
    with reading(engine) as conn:
        return [AppliedRun(int(r.id), r.started_at.replace(tzinfo=r.started_at.tzinfo or UTC),
                           int(r.rows or 0), json.loads(r.counts or "{}"))
                for r in conn.execute(stmt)]


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list: each field left None matches every run."""

    connection: str | None = None
    state: str | None = None
    kind: str | None = None
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before


@dataclass(frozen=True)
class RunPage:
    """One page of runs (newest first), the file name of each, and how many match in all."""

    runs: list[RunRecord]
    file_names: dict[int, str]
    total: int


def search_runs(ledger: Ledger, where: RunFilter, offset: int, limit: int) -> RunPage:
    """Runs matching ``where``, newest first, ``limit`` of them from ``offset``."""
    conditions = [c for c in (
        runs.c.connection == where.connection if where.connection else None,
        runs.c.state == where.state if where.state else None,
        runs.c.kind == where.kind if where.kind else None,
        runs.c.started_at >= where.since if where.since else None,
        runs.c.started_at < where.until if where.until else None) if c is not None]
    columns = [c for c in runs.c if c.name != "report"]
    stmt = (sa.select(*columns).where(*conditions).order_by(runs.c.id.desc())
            .offset(offset).limit(limit))
    with reading(ledger.engine) as conn:
        found = [Ledger._run(r._mapping, with_report=False) for r in conn.execute(stmt)]
        total = int(conn.scalar(sa.select(sa.func.count()).select_from(runs)
                                .where(*conditions)) or 0)
        ids = {r.file_id for r in found if r.file_id is not None}
        names = {int(r.id): r.name for r in conn.execute(
            sa.select(files.c.id, files.c.name).where(files.c.id.in_(ids)))} if ids else {}
    return RunPage(found, names, total)


def running_runs(ledger: Ledger, connection: str) -> list[RunRecord]:
    """Runs of ``connection`` still marked running (what a busy connection is doing)."""
    columns = [c for c in runs.c if c.name != "report"]
    with reading(ledger.engine) as conn:
        return [Ledger._run(r._mapping, with_report=False) for r in conn.execute(
            sa.select(*columns).where(runs.c.connection == connection,
                                      runs.c.state == "running").order_by(runs.c.id))]
