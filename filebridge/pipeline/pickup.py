"""Pick up every finished file of a connection now: claim, fetch, import, archive or reject.

One sync, per file, oldest first::

    claim (rename into processing/) ─► fetch (verified local copy, sha256)
        ─► run_import(apply) ─► archive/YYYY/MM/DD/  (applied, duplicate, held)
                              └► rejected/ + NAME.error.txt  (file unusable, too large)

The LMS transaction commits before the original is moved. A crash in between leaves
the file in processing/; the next sync takes it up first (``pending_claims``), the
ledger sees content it already applied, records a duplicate and archives it, so the
LMS is never changed twice. A held file is archived too: its verified copy is in the
spool and the ledger, which is what ``replay FILE_ID --force`` (or an approval) reads.

Errors before any file is touched (connect, host key, listing) are raised. Errors on
one file stop the sync (a newer file must not be applied before an older one) and
are reported in ``SyncReport.errors``; that file stays in processing/ for next time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from filebridge.errors import FilebridgeError, Transient
from filebridge.failpoints import failpoint
from filebridge.pipeline.context import Context
from filebridge.pipeline.importer import RunOptions, load_import_mapping, run_import
from filebridge.pipeline.report import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_UNUSABLE,
    Progress,
    RunReport,
)
from filebridge.transports import (
    Claimed,
    RemoteFile,
    Skipped,
    Transport,
    open_transport,
    wait_ready,
)
from filebridge.transports.errors import FileTooLarge
from filebridge.transports.settings import parse_common

log = logging.getLogger(__name__)

MAX_REASONS = 5  # problems quoted in NAME.error.txt; the run report has them all


@dataclass(frozen=True)
class PickedFile:
    """What happened to one picked-up file."""

    name: str
    state: str  # a run state (applied, duplicate, held, rejected) or "failed"
    sha256: str | None = None
    run_id: int | None = None
    file_id: int | None = None
    exit_code: int = EXIT_OK
    counts: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    archived_to: str | None = None
    rejected_to: str | None = None
    reason: str | None = None
    recovered: bool = False  # taken up again from processing/ after an earlier crash

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"name": self.name, "state": self.state, "sha256": self.sha256,
                "run_id": self.run_id, "file_id": self.file_id, "exit_code": self.exit_code,
                "counts": self.counts, "rejected_rows": self.rejected_rows,
                "archived_to": self.archived_to, "rejected_to": self.rejected_to,
                "reason": self.reason, "recovered": self.recovered}


@dataclass(frozen=True)
class SyncError:
    """Why a sync stopped at one file (``retry``: a later run may succeed)."""

    file: str
    code: str
    message: str
    retry: bool


@dataclass(frozen=True)
class SyncReport:
    """The outcome of one sync of a connection: its files, refused names and errors."""

    connection: str
    files: tuple[PickedFile, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    errors: tuple[SyncError, ...] = ()

    @property
    def exit_code(self) -> int:
        """3 transport or LMS unavailable, 2 a file unusable, 1 rows rejected or held, else 0."""
        codes = [f.exit_code for f in self.files]
        codes += [EXIT_UNAVAILABLE if e.retry else EXIT_UNUSABLE for e in self.errors]
        return max(codes, default=EXIT_OK)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"connection": self.connection, "exit_code": self.exit_code,
                "files": [f.to_dict() for f in self.files],
                "skipped": [{"name": ascii(s.name), "reason": s.reason} for s in self.skipped],
                "errors": [asdict(e) for e in self.errors]}


def open_connection_transport(ctx: Context, connection: str) -> Transport:
    """The transport of ``connection``, spooling into the connection's spool folder."""
    cfg = ctx.connection(connection).transport
    return open_transport(cfg, base_dir=ctx.settings.base_dir,
                          spool_dir=ctx.spool_dir(connection))


def settle_seconds(ctx: Context, connection: str) -> float:
    """How long a one-shot sync must watch the inbox to see a finished file as stable."""
    rule = parse_common(ctx.connection(connection).transport).ready
    window = max(rule.stable_seconds, rule.min_age) if rule.mode == "stable" else 0.0
    return window + 1.0 if window else 0.0


def sync_connection(ctx: Context, connection: str, *,
                    now: Callable[[], datetime] | None = None,
                    progress: Progress | None = None,
                    wait_seconds: float = 0, lock_wait: float = 0) -> SyncReport:
    """Import every finished file of ``connection`` now, oldest first; see the module doc.

    ``wait_seconds`` polls the inbox that long for files to become stable (a one-shot
    command sees each file once otherwise). ``now`` dates the archive folders and the
    ledger; stability always uses the real clock. ``lock_wait``: how long to wait while
    another process syncs the connection (a daemon waiting there takes over at once
    from one that dies).
    """
    clock = now or (lambda: datetime.now(UTC))
    load_import_mapping(ctx, connection)  # a broken mapping fails before anything is claimed
    transport = open_connection_transport(ctx, connection)
    # A separate lock name from run_import's: two syncs (daemon and CLI) never take up
    # each other's processing/ files, while each import still takes the connection lock.
    try:
        with ctx.ledger.lock(f"{connection}/pickup", wait_seconds=lock_wait):
            return _sync(ctx, connection, transport, clock, progress, wait_seconds)
    finally:
        transport.close()


def _sync(ctx: Context, connection: str, transport: Transport,
          clock: Callable[[], datetime], progress: Progress | None,
          wait_seconds: float) -> SyncReport:
    # Files left in processing/ by a crash are older than anything in the inbox.
    jobs: list[Claimed | RemoteFile] = list(transport.pending_claims())
    jobs += (wait_ready(transport, wait_seconds, interval=0.25) if wait_seconds > 0
             else transport.list_ready(time.time()))
    skipped = tuple(transport.skipped)
    picked: list[PickedFile] = []
    errors: list[SyncError] = []
    for job in jobs:
        try:
            if isinstance(job, Claimed):
                claimed, recovered = job, True
            else:
                claimed, recovered = transport.claim(job), False
                failpoint("after-claim")
            picked.append(_take(ctx, connection, transport, claimed, recovered, clock,
                                progress))
        except FilebridgeError as exc:
            busy = exc.code == "connection-busy"  # another process runs it: normal when shared
            log.log(logging.INFO if busy else logging.WARNING, "%s: stopped at %s: %s",
                    connection, ascii(job.name), exc)
            errors.append(SyncError(ascii(job.name), exc.code, str(exc),
                                    isinstance(exc, Transient)))
            break  # a newer file must never be applied before an older one
    report = SyncReport(connection, tuple(picked), skipped, tuple(errors))
    log.info("%s: sync picked up %d file(s), skipped %d, errors %d, exit %d", connection,
             len(picked), len(skipped), len(errors), report.exit_code)
    return report


def _take(ctx: Context, connection: str, transport: Transport, claimed: Claimed,
          recovered: bool, clock: Callable[[], datetime],
          progress: Progress | None) -> PickedFile:
    """Fetch, import and move one claimed file."""
    try:
        fetched = transport.fetch(claimed, ctx.spool_dir(connection))
    except FileTooLarge as exc:
        where = transport.reject(claimed, f"{exc.code}: {exc}", clock())
        log.warning("%s: %s rejected: %s", connection, ascii(claimed.name), exc)
        return PickedFile(claimed.name, "rejected", exit_code=EXIT_UNUSABLE, rejected_to=where,
                          reason=f"{exc.code}: {exc}", recovered=recovered)
    report = run_import(ctx, connection, fetched.local_path,
                        RunOptions(mode="apply", name=claimed.name), progress, clock)
    failpoint("after-import-before-archive")
    archived = rejected = reason = None
    if report.state == "rejected":
        reason = rejection_reason(report)
        rejected = transport.reject(claimed, reason, clock())
    else:
        archived = transport.archive(claimed, clock())
    if report.file_id is not None:
        ctx.ledger.set_file_moved_to(report.file_id, archived or rejected or "")
    log.info("%s: %s %s (run %s) -> %s", connection, ascii(claimed.name), report.state,
             report.run_id, archived or rejected)
    return PickedFile(claimed.name, report.state, report.sha256, report.run_id,
                      report.file_id, report.exit_code, dict(report.counts),
                      report.rejected_rows, archived, rejected, reason, recovered)


def rejection_reason(report: RunReport) -> str:
    """Why a file was unusable, in a few lines: the first problems of severity error."""
    errors = [p for p in [*report.problems, *report.warnings] if p.severity == "error"]
    lines = [f"{p.code}: {p.message}" + (f" (line {p.line})" if p.line else "")
             for p in errors[:MAX_REASONS]]
    if len(errors) > MAX_REASONS:
        lines.append(f"... and {len(errors) - MAX_REASONS} more (all in run {report.run_id})")
    return "\n  ".join(lines) or f"rejected (run {report.run_id})"
