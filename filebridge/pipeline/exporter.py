"""One export run: completions → export mapping → files → outbox → watermark, exactly once.

The order is what makes it exactly once: a crash between any two steps leaves the
ledger able to tell what the HR side already has.

1. exports still pending from an earlier run are sent first, the same files under the
   same names; a file already at the HR side with the same size and sha256 counts as
   delivered (the crash came after the upload), one with other content stops the run;
2. the new export is planned completely from the watermark (a store revision, not a
   clock) and its files are written to ``STATE/exports/CONNECTION/run-N/``;
3. the ledger records it as pending: files, checksums, items and the watermark after;
4. each file is uploaded under a temporary name and renamed (the transport's job);
5. one ledger transaction marks it delivered, its run applied and moves the watermark.

A crash anywhere before 5 leaves the export pending, and step 1 of the next run sends
it again. A range export (``since``/``until``) re-sends rows marked ``resend`` and never
moves the watermark; a dry run writes the files locally and records nothing pending.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from filebridge.errors import ErrorInfo, FilebridgeError
from filebridge.failpoints import failpoint
from filebridge.ledger.exports import ExportLedger, PendingExport
from filebridge.mapping.export import ExportMapping
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import ExportFileMissing, ExportTargetDiffers
from filebridge.pipeline.export_plan import load_mapping_of, plan_export, write_files
from filebridge.pipeline.layout import connection_pgp
from filebridge.pipeline.report import EXIT_OK, EXIT_UNAVAILABLE, EXIT_UNUSABLE
from filebridge.transports import Transport, open_transport
from filebridge.transports.errors import TargetExists

ExportState = Literal["delivered", "noop", "planned", "failed"]


@dataclass(frozen=True)
class SentFile:
    """One file an export wrote, and where it was delivered (None: not yet, or dry run)."""

    name: str
    sequence: int
    rows: int
    sha256: str
    size: int
    local_path: str
    delivered_to: str | None = None


@dataclass(frozen=True)
class Retried:
    """An earlier export whose files were sent again before this one."""

    run_id: int
    files: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """``run_id`` and the names of its files."""
        return {"run_id": self.run_id, "files": list(self.files)}


@dataclass
class ExportReport:
    """The outcome of one export run."""

    connection: str
    dry_run: bool = False
    kind: Literal["incremental", "range"] = "incremental"
    state: ExportState = "noop"
    run_id: int | None = None
    since: str | None = None
    until: str | None = None
    watermark_before: int | None = None
    watermark_after: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    files: list[SentFile] = field(default_factory=list)
    retried: list[Retried] = field(default_factory=list)
    error: ErrorInfo | None = None
    timings: dict[str, float] = field(default_factory=dict)
    state_location: str = ""

    @property
    def exit_code(self) -> int:
        """0 ok, 2 unusable configuration or a conflicting file, 3 outbox unavailable."""
        if self.state != "failed":
            return EXIT_OK
        return EXIT_UNAVAILABLE if self.error and self.error.transient else EXIT_UNUSABLE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"run_id": self.run_id, "connection": self.connection, "kind": self.kind,
                "dry_run": self.dry_run, "state": self.state, "exit_code": self.exit_code,
                "since": self.since, "until": self.until,
                "watermark_before": self.watermark_before,
                "watermark_after": self.watermark_after, "counts": self.counts,
                "files": [asdict(f) for f in self.files],
                "retried": [r.to_dict() for r in self.retried],
                "error": None if self.error is None else self.error.to_dict(),
                "timings": self.timings, "state_location": self.state_location}


def export_connection(ctx: Context, connection: str, *, now: datetime,
                      since: datetime | None = None, until: datetime | None = None,
                      dry_run: bool = False, transport: Transport | None = None) -> ExportReport:
    """Send ``connection``'s new completions (or a completion-date range) to its outbox."""
    mapping = load_mapping_of(ctx, connection)
    ledger = ctx.ledger.exports
    report = ExportReport(connection, dry_run=dry_run,
                          kind="range" if since or until else "incremental",
                          since=since.isoformat() if since else None,
                          until=until.isoformat() if until else None,
                          state_location=ctx.ledger.location)
    report.run_id = ctx.ledger.start_run(connection, "export", "plan" if dry_run else "apply",
                                         None, now)
    started = time.perf_counter()
    own = transport is None and not dry_run
    try:
        if not dry_run:
            transport = transport or open_transport(
                ctx.connection(connection).transport, base_dir=ctx.settings.base_dir,
                spool_dir=ctx.spool_dir(connection))
            for pending in ledger.pending(connection):
                _deliver(ctx, ledger, pending, mapping, transport, now)
                report.retried.append(Retried(pending.run_id,
                                              tuple(f.name for f in pending.files)))
        _export_new(ctx, ledger, connection, mapping, now, since, until, transport, report)
    except FilebridgeError as exc:
        report.state = "failed"
        report.error = ErrorInfo.of(exc)
        ctx.ledger.finish_run(report.run_id, "failed", report.counts, report.to_dict(),
                              report.error.to_dict(), now)
    finally:
        if own and transport is not None:
            transport.close()
        report.timings = {"total": round(time.perf_counter() - started, 3)}
    return report


def _export_new(ctx: Context, ledger: ExportLedger, connection: str, mapping: ExportMapping,
                now: datetime, since: datetime | None, until: datetime | None,
                transport: Transport | None, report: ExportReport) -> None:
    plan = plan_export(ctx, ledger, connection, mapping, now, since, until)
    report.counts = plan.counts
    report.watermark_before = report.watermark_after = plan.watermark_before
    assert report.run_id is not None
    folder = ctx.settings.state_dir / "exports" / connection / (
        f"dry-run-{report.run_id}" if report.dry_run else f"run-{report.run_id}")
    files = write_files(mapping, plan, folder, connection, now,
                        ledger.next_sequence(connection), connection_pgp(ctx, connection))
    report.files = [SentFile(f.name, f.sequence, f.rows, f.sha256, f.size, f.local_path)
                    for f in files]
    counts = {**plan.counts, "files": len(files), "watermark_before": plan.watermark_before,
              "watermark_after": plan.watermark_after}
    if report.dry_run:
        report.watermark_after = plan.watermark_after
        report.state = "planned"
        ctx.ledger.finish_run(report.run_id, "planned", counts, report.to_dict(), None, now)
        return
    if not files:
        # Nothing to send: the watermark may still pass filtered-out rows, and it can move
        # at once because there is no delivery to confirm.
        if plan.watermark_after is not None:
            report.watermark_after = plan.watermark_after
        report.state = "delivered" if report.retried else "noop"
        ctx.ledger.finish_export_without_files(
            connection, report.run_id, plan.watermark_after,
            "applied" if report.retried else "noop", counts, report.to_dict(), now)
        return
    ledger.record_pending(report.run_id, connection, report.kind,
                          (plan.watermark_before, plan.watermark_after), files, plan.items, now)
    assert transport is not None
    pending = next(p for p in ledger.pending(connection) if p.run_id == report.run_id)
    where = _deliver(ctx, ledger, pending, mapping, transport, now, report=report, counts=counts)
    report.files = [replace(f, delivered_to=where.get(f.name)) for f in report.files]
    report.watermark_after = plan.watermark_after if plan.watermark_after is not None \
        else plan.watermark_before


def _deliver(ctx: Context, ledger: ExportLedger, pending: PendingExport, mapping: ExportMapping,
             transport: Transport, now: datetime, *, report: ExportReport | None = None,
             counts: dict[str, Any] | None = None) -> dict[str, str]:
    """Upload every file of a pending export, then confirm it in one ledger transaction."""
    where: dict[str, str] = {}
    for f in pending.files:
        local = Path(f.local_path)
        if not local.is_file():
            raise ExportFileMissing(pending.connection, f.local_path, pending.run_id)
        try:
            where[f.name] = transport.deliver(local, f.name, done_marker=mapping.done_marker)
        except TargetExists:
            # Same bytes already there: a crash came between the rename and the ledger.
            if transport.outbox_checksum(f.name) != (f.size, f.sha256):
                raise ExportTargetDiffers(pending.connection, f.name, pending.run_id) from None
            where[f.name] = f"{f.name} (already delivered)"
        failpoint("between-export-files")
    failpoint("after-upload-before-watermark")
    if report is not None and report.run_id == pending.run_id:
        report.state = "delivered"
        report.watermark_after = pending.watermark_after
        report.files = [replace(f, delivered_to=where.get(f.name)) for f in report.files]
        ctx.ledger.confirm_export(pending.run_id, "applied", counts or {}, report.to_dict(),
                                  now)
    else:
        earlier = ctx.ledger.get_run(pending.run_id)
        counts = earlier.counts or {"rows": pending.rows, "files": len(pending.files)}
        ctx.ledger.confirm_export(pending.run_id, "applied", counts,
                                  {**(earlier.report or {}), "state": "delivered",
                                   "delivered_on_retry": True}, now)
    return where


def abandon_pending(ctx: Context, connection: str, now: datetime) -> list[int]:
    """Give up the pending exports of ``connection``; their rows are planned again next run."""
    return ctx.ledger.exports.abandon(connection, now)
