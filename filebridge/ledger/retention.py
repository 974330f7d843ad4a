"""Retention in the ledger: a run's details go, its hashes, counts and dates stay.

A run's stored report holds personal data (the plan's names and values, the problems'
cell values, the employee ids an undo left alone). After the connection's
``reports_days`` the report keeps only what says what happened: ids, file name and
hash, state, row counts, change counts, holds and timings.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.ledger.schema import files, runs
from filebridge.sql import fetch_raw, reading

# The keys of a run report kept after its details expire.
KEPT_KEYS = ("run_id", "connection", "file", "file_id", "sha256", "mode", "state",
             "exit_code", "rows", "rejected_rows", "counts", "holds", "duplicate_of",
             "timings", "state_location", "export_time", "about_run")
EXPIRED = "details_expired"


def kept_report(report: dict[str, object]) -> dict[str, object]:
    """``report`` without its personal details, marked as such."""
    return {**{k: report[k] for k in KEPT_KEYS if k in report}, "plan": {}, "problems": [],
            "warnings": [], "refused": [], "reject_file": None, EXPIRED: True}


def expire_run_details(engine: Engine, connection: str, before: datetime,
                       dry_run: bool = False) -> list[int]:
    """Runs of ``connection`` started before ``before`` whose report still has details;
    unless ``dry_run``, their reports are cut down to ``kept_report``."""
    stmt = (sa.select(runs.c.id, runs.c.report)
            .where(runs.c.connection == connection, runs.c.started_at < before.astimezone(UTC),
                   runs.c.report.is_not(None), runs.c.state != "running")
            .order_by(runs.c.id))
    with reading(engine) as conn:
        rows = fetch_raw(conn, stmt)
    due = []
    for run_id, text in rows:
        report = json.loads(text) if text else {}
        if isinstance(report, dict) and not report.get(EXPIRED):
            due.append((run_id, kept_report(report)))
    if due and not dry_run:
        with engine.begin() as tx:
            for run_id, report in due:
                tx.execute(runs.update().where(runs.c.id == run_id).values(
                    report=json.dumps(report, default=str, ensure_ascii=False)))
    return [run_id for run_id, _ in due]


def mark_spool_removed(engine: Engine, connection: str, spool_paths: list[str],
                       at: datetime) -> int:
    """Record when retention removed these spool copies of ``connection``'s files (the
    first removal counts); returns how many file records name them."""
    if not spool_paths:
        return 0
    with engine.begin() as conn:
        return int(conn.execute(files.update().where(
            files.c.connection == connection, files.c.spool_path.in_(spool_paths),
            files.c.spool_removed_at.is_(None)).values(spool_removed_at=at)).rowcount)
