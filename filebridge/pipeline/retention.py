"""Retention: remove what holds personal data once it is older than the connection keeps it.

One function serves ``filebridge cleanup`` and the daemon's cleanup task. Per connection
(``retention`` in settings.yaml; each period defaults to the transport's
``archive_keep_days``):

- ``archive_days``: archived originals on the transport and local spool copies. A spool
  copy goes when every ledger file sharing it was received before the cutoff, whatever
  became of its runs (applied, held, discarded): a replay or approval of such an old
  file then says its copy is gone.
- ``rejected_days``: the transport's rejected/ folder and runs' reject CSVs.
- ``reports_days``: runs' change lists and logs (and any other file of the reports
  folder), the details of their reports in the
  ledger (hashes, counts and dates stay), the store's journal of their changes, the values
  and messages of their per-person row events (kind, code, field and line stay), and the
  daemon's task history and cleared alerts.
"""

from __future__ import annotations

import logging
import re
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from filebridge.pipeline.context import Context
from filebridge.transports import open_transport
from filebridge.transports.settings import parse_common

log = logging.getLogger(__name__)

Kind = Literal["archive", "rejected", "spool", "reject-csv", "change-log", "run-log", "report"]
# Files of the reports folder, by the retention period that covers them.
_REPORT_FILES: dict[str, tuple[Kind, str]] = {
    "rejects.csv": ("reject-csv", "rejected_days"),
    "changes.csv": ("change-log", "reports_days"),
    "log.jsonl": ("run-log", "reports_days"),
}
_RUN_FILE = re.compile(r"^run-\d+-(rejects\.csv|changes\.csv|log\.jsonl)$")
MAX_FILES = 1_000_000  # ledger rows read per cleanup; far above a connection's lifetime


@dataclass(frozen=True)
class Retention:
    """Days a connection keeps each kind of personal data."""

    archive_days: int
    rejected_days: int
    reports_days: int


def retention_of(ctx: Context, connection: str) -> Retention:
    """The connection's retention, defaults filled in from the transport's archive_keep_days."""
    config = ctx.connection(connection)
    default = parse_common(config.transport).archive_keep_days
    given = config.retention
    archive = int(given.get("archive_days", default))
    return Retention(archive, int(given.get("rejected_days", archive)),
                     int(given.get("reports_days", archive)))


@dataclass(frozen=True)
class Removed:
    """One file removed (or, in a dry run, to be removed)."""

    kind: Kind
    path: str


@dataclass(frozen=True)
class CleanupReport:
    """What ``cleanup`` removed from one connection (or would remove, in a dry run)."""

    connection: str
    dry_run: bool
    retention: Retention
    files: tuple[Removed, ...] = ()
    run_details: tuple[int, ...] = ()  # runs whose report details were cut
    journal_rows: int = 0
    person_events: int = 0  # per-person row events cut to kind, code, field and line
    task_runs: int = 0
    alerts: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the keys documented in the README (``cleanup --json``)."""
        return {"connection": self.connection, "dry_run": self.dry_run,
                "retention": asdict(self.retention), "counts": dict(self.counts),
                "files": [asdict(f) for f in self.files],
                "run_details": list(self.run_details), "journal_rows": self.journal_rows,
                "person_events": self.person_events, "task_runs": self.task_runs,
                "alerts": self.alerts}


def cleanup(ctx: Context, connection: str, now: datetime, dry_run: bool = False, *,
            lock: bool = True) -> CleanupReport:
    """Remove ``connection``'s personal data older than its retention; with ``dry_run``,
    only say what would go. Takes the connection's lock (no run may read a spool copy
    meanwhile) unless the caller holds it."""
    with ctx.ledger.lock(connection, wait_seconds=0) if lock else nullcontext():
        return _cleanup(ctx, connection, now, dry_run)


def _cleanup(ctx: Context, connection: str, now: datetime, dry_run: bool) -> CleanupReport:
    keep = retention_of(ctx, connection)

    def cutoff(days: int) -> datetime:
        return now - timedelta(days=days)

    transport = open_transport(ctx.connection(connection).transport,
                               base_dir=ctx.settings.base_dir,
                               spool_dir=ctx.spool_dir(connection))
    try:
        found = [Removed("archive", p) for p in transport.expire(
            "archive", keep.archive_days, now, dry_run=dry_run)]
        found += [Removed("rejected", p) for p in transport.expire(
            "rejected", keep.rejected_days, now, dry_run=dry_run)]
    finally:
        transport.close()
    found += _old_spool(ctx, connection, cutoff(keep.archive_days), dry_run, now)
    found += _old_reports(ctx.reports_dir(connection), keep, now, dry_run)
    details = ctx.ledger.expire_run_details(connection, cutoff(keep.reports_days), dry_run)
    journal = ctx.store.forget_journal(connection, cutoff(keep.reports_days), dry_run)
    events = ctx.ledger.expire_person_events(connection, cutoff(keep.reports_days), dry_run)
    state = ctx.ledger.daemon_state
    tasks = state.prune_tasks(connection, cutoff(keep.reports_days), dry_run)
    alerts = state.prune_alerts(connection, cutoff(keep.reports_days), dry_run)
    counts: dict[str, int] = {}
    for f in found:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    counts.update({"run_details": len(details), "journal_rows": journal,
                   "person_events": events, "task_runs": tasks, "alerts": alerts})
    report = CleanupReport(connection, dry_run, keep, tuple(found), tuple(details), journal,
                           events, tasks, alerts, counts)
    log.info("cleanup %s%s: %s", connection, " (dry run)" if dry_run else "",
             ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing to remove")
    return report


def _old_spool(ctx: Context, connection: str, before: datetime, dry_run: bool,
               now: datetime) -> list[Removed]:
    """Spool copies whose every ledger file was received before ``before``; the ledger
    records when each went, so a later replay or approval can say so."""
    folder = ctx.spool_dir(connection)
    if not folder.is_dir():
        return []
    recent: set[Path] = set()
    for f in ctx.ledger.files(connection, limit=MAX_FILES):
        received = f.received_at if f.received_at.tzinfo else f.received_at.replace(tzinfo=UTC)
        if received >= before:
            recent.add(Path(f.spool_path).resolve())
    out = []
    for entry in sorted(folder.iterdir()):
        # Never follow links: only plain files this process wrote are ever deleted.
        if entry.is_symlink() or not entry.is_file() or entry.resolve() in recent:
            continue
        if datetime.fromtimestamp(entry.stat().st_mtime, UTC) < before:
            out.append(Removed("spool", str(entry)))
            if not dry_run:
                entry.unlink()
                ctx.ledger.mark_spool_removed(connection, [str(entry), str(entry.resolve())],
                                              now)
    return out


def _old_reports(folder: Path, keep: Retention, now: datetime, dry_run: bool
                 ) -> list[Removed]:
    """Reject CSVs, change lists and logs of runs, each past its own period."""
    if not folder.is_dir():
        return []
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_file():
            continue
        match = _RUN_FILE.match(entry.name)
        kind, period = _REPORT_FILES[match.group(1)] if match else ("report", "reports_days")
        before = now - timedelta(days=getattr(keep, period))
        if datetime.fromtimestamp(entry.stat().st_mtime, UTC) < before:
            out.append(Removed(kind, str(entry)))
            if not dry_run:
                entry.unlink()
    return out
