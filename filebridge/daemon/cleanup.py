"""The ``cleanup`` task: forget what is older than the connection's retention.

Retention is the transport's ``archive_keep_days`` (default 90), one number for
everything a connection keeps: archived originals (on the transport), reject files
and reports, spooled copies and the daemon's task history. A spooled copy is kept
while any of its ledger files is recent, waiting (received, planned, held) or the
connection's latest applied file, because replays and approvals read it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from filebridge.pipeline.context import Context
from filebridge.transports import open_transport
from filebridge.transports.settings import parse_common

log = logging.getLogger(__name__)
WAITING_STATES = frozenset({"received", "planned", "held"})
MAX_FILES = 1_000_000  # ledger rows read per cleanup; far above a connection's lifetime


def cleanup_connection(ctx: Context, connection: str, now: datetime) -> dict[str, int]:
    """Prune ``connection``'s old archive, reports, spool and history; returns counts."""
    cfg = ctx.connection(connection).transport
    keep_days = parse_common(cfg).archive_keep_days
    cutoff = now - timedelta(days=keep_days)
    transport = open_transport(cfg, base_dir=ctx.settings.base_dir,
                               spool_dir=ctx.spool_dir(connection))
    try:
        archived = transport.purge_archive(keep_days, now)
    finally:
        transport.close()
    state = ctx.ledger.daemon_state
    counts = {
        "keep_days": keep_days,
        "archive_files": archived,
        "reports": _prune_folder(ctx.reports_dir(connection), cutoff, keep=frozenset()),
        "spool_files": _prune_folder(ctx.spool_dir(connection), cutoff,
                                     keep=_spool_in_use(ctx, connection, cutoff)),
        "task_runs": state.prune_tasks(connection, cutoff),
        "alerts": state.prune_alerts(connection, cutoff),
    }
    log.info("cleanup removed %s (older than %d days)",
             ", ".join(f"{v} {k}" for k, v in counts.items() if k != "keep_days"), keep_days)
    return counts


def _spool_in_use(ctx: Context, connection: str, cutoff: datetime) -> frozenset[Path]:
    """Spooled copies a replay or approval may still need."""
    keep: set[Path] = set()
    latest_applied = True
    for f in ctx.ledger.files(connection, limit=MAX_FILES):  # newest first
        received = f.received_at if f.received_at.tzinfo else f.received_at.replace(tzinfo=UTC)
        if f.state == "applied" and latest_applied:
            keep.add(Path(f.spool_path).resolve())
            latest_applied = False
        elif received >= cutoff or f.state in WAITING_STATES:
            keep.add(Path(f.spool_path).resolve())
    return frozenset(keep)


def _prune_folder(folder: Path, cutoff: datetime, keep: frozenset[Path]) -> int:
    """Delete regular files in ``folder`` (not below it) last modified before ``cutoff``."""
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.iterdir():
        # Never follow links: only plain files this process wrote are ever deleted.
        if entry.is_symlink() or not entry.is_file() or entry.resolve() in keep:
            continue
        if datetime.fromtimestamp(entry.stat().st_mtime, UTC) < cutoff:
            entry.unlink()
            removed += 1
    return removed
