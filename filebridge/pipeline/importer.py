"""One import run: file → rows → records → plan → guard → one transaction → report."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from collections.abc import Mapping as Counts
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from filebridge.config import load_mapping
from filebridge.errors import Transient
from filebridge.failpoints import failpoint
from filebridge.formats import FileRejected, ReadLimits, Table
from filebridge.formats.pgp import PgpKeys
from filebridge.formats.source import read_source
from filebridge.ledger.locks import LockLost
from filebridge.lms import Lms
from filebridge.mapping import (
    MappedRecords,
    Mapping,
    MissingColumns,
    apply_mapping,
    check_columns,
    mapping_from_dict,
)
from filebridge.pipeline.changelog import (
    RunLog,
    change_log_path,
    run_log_path,
    write_change_log,
)
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import NoImportMapping
from filebridge.pipeline.groups import keeps_groups, without_groups
from filebridge.pipeline.layout import connection_pgp, source_layout
from filebridge.pipeline.older_data import repeated_content
from filebridge.pipeline.rejects import write_rejects
from filebridge.pipeline.report import NullProgress, Progress, RunReport, refused
from filebridge.pipeline.row_events import row_events
from filebridge.pipeline.settle import settle_open_runs, stopped_before_commit
from filebridge.pipeline.spool import spool_file
from filebridge.pipeline.staleness import export_time_of, history_of
from filebridge.plan import Plan, validate_file
from filebridge.plan.build import Planned, make_plan
from filebridge.plan.guard import GuardPolicy, Hold, judge
from filebridge.plan.policy import Policies
from filebridge.plan.state import ActualState
from filebridge.plan.summary import summarize
from filebridge.problems import Problem

Mode = Literal["plan", "apply"]


@dataclass(frozen=True)
class RunOptions:
    """How to run: plan only or apply; replay ignores the duplicate check; force passes holds."""

    mode: Mode = "plan"
    replay: bool = False
    force: bool = False
    kind: str = "import"
    name: str | None = None  # the file's name to record and show (a replay reads the spool)
    # Asked with the planned report before applying (replay shows the plan first); False
    # leaves the run planned, nothing applied.
    confirm: Callable[[RunReport], bool] | None = None
    lock_wait: float = 0.0  # seconds to wait for another run of the connection to finish
    about_run: int | None = None  # approve: the held run this run applies (becomes approved)
    actor: str | None = None  # who started the run by hand (approve, replay)


def load_import_mapping(ctx: Context, connection: str) -> Mapping:
    """The connection's import mapping, validated."""
    path = ctx.connection(connection).import_mapping
    if path is None:
        raise NoImportMapping(connection=connection)
    return mapping_from_dict(path, load_mapping(path).data)


def read_table(mapping: Mapping, path: Path, display: str, pgp: PgpKeys | None = None
               ) -> Table:
    """Read ``path`` with the reader the mapping declares (decrypted, unpacked first)."""
    lim = mapping.limits
    limits = ReadLimits(lim.max_file_bytes, lim.max_field_chars, lim.max_errors)
    return read_source(path, source_layout(mapping), limits, name=display, pgp=pgp)


def map_table(state: ActualState, mapping: Mapping, table: Table) -> MappedRecords:
    """Map and validate a table against the LMS's ``state``; rows the reader flagged (bad
    cells) are rejected too."""
    records = apply_mapping(mapping, table.frame, table.lines, table.file)
    flagged = [p.line for p in table.problems if p.severity == "error" and p.line is not None]
    if flagged:
        records.rejected |= np.isin(table.lines, flagged)
    validate_file(records, table.file, state, mapping.column_names())
    return records


def plan_records(ctx: Context, connection: str, mapping: Mapping, table: Table,
                 records: MappedRecords, name: str, state: ActualState, now: datetime
                 ) -> Planned:
    """The plan of a mapped file (named ``name``) against ``state``, under the
    connection's policies; nothing is written."""
    kind = "delta" if table.from_reject_file else mapping.kind_of(name)
    planned = make_plan(mapping, records, table.file, kind, state,
                        Policies.from_config(ctx.connection(connection).policies), now,
                        [p.value for p in table.problems if p.value])
    if not ctx.target(connection).capabilities.org:
        # Departments and titles are plain person attributes there.
        planned.plan.org = planned.plan.org.iloc[0:0]
    return planned


def file_holds(ctx: Context, connection: str, table: Table, records: MappedRecords,
               plan: Plan, managed: int, export_time: datetime | None) -> list[Hold]:
    """The guard's verdict on a planned file judged against ``managed`` people: every
    hold (or, with reaction warn, flag) it raises; empty when it would be applied."""
    rejected = int(records.rejected.sum()) + (table.rows_read - len(table.frame))
    return judge(plan, managed, table.rows_read, rejected,
                 GuardPolicy.from_config(ctx.connection(connection).thresholds),
                 history_of(ctx, connection, export_time))


def values_dropped(table: Table) -> Table:
    """``table`` without its values once mapped, when nothing later reads them.

    After mapping, a run reads only the table's row count, lines and problems, and the
    reject file, which copies a CSV's rejected records from the source bytes again. The
    source columns no mapped field shares (a million rows: ~60 MB) would otherwise stay
    alive through the plan. A source without those bytes (XML, JSON, XLSX) keeps its
    values: its reject file shows them.
    """
    if table.source is None or table.dialect is None:
        return table
    return dataclasses.replace(table, frame=pd.DataFrame(index=table.frame.index))


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self.last, 3)
        self.last = now


def run_import(ctx: Context, connection: str, path: Path, options: RunOptions,
               progress: Progress | None = None, now: Callable[[], datetime] | None = None
               ) -> RunReport:
    """Plan or apply one file for one connection and record it in the ledger.

    Holds the connection's lock for the whole run, so a daemon and a manual run (or two
    daemons on one state store) never plan and apply the same connection at once.
    """
    with ctx.ledger.lock(connection, wait_seconds=options.lock_wait):
        return run_import_locked(ctx, connection, path, options, progress, now)


def run_import_locked(ctx: Context, connection: str, path: Path, options: RunOptions,
                      progress: Progress | None = None,
                      now: Callable[[], datetime] | None = None) -> RunReport:
    """``run_import`` for a caller that holds ``connection``'s lock already."""
    settle_open_runs(ctx, connection, locked=True)
    started: list[RunReport] = []
    with RunLog(connection) as log:
        try:
            report = _run_import(ctx, connection, path, options,
                                 log.progress(progress or NullProgress()), now, log, started)
            log.note(f"run {report.run_id} {report.state}: " + ", ".join(
                f"{k} {v}" for k, v in report.counts.items()))
            return report
        except BaseException as error:
            log.note(f"run failed: {type(error).__name__}: {error}", "ERROR")
            if started and started[0].run_id is not None:
                # The run is over. An intent recorded for a store in another database is
                # settled from the store's mark first (a commit that happened stays
                # applied); what is still running failed: its transaction rolled back.
                with contextlib.suppress(Exception):  # a ledger down now: settled later
                    settle_open_runs(ctx, connection, locked=True)
                ctx.ledger.fail_run(started[0].run_id, failure_of(error), datetime.now(UTC))
            raise
        finally:
            if log.run_id is not None:  # the run is in the ledger: its log goes beside it
                log.write(run_log_path(ctx.reports_dir(connection), log.run_id))


def failure_of(exc: BaseException) -> dict[str, Any]:
    """How an exception that ended a run is recorded: code, message, retry."""
    code = getattr(exc, "code", None) or "internal-error"
    return {"code": code, "message": f"{type(exc).__name__}: {exc}" if code ==
            "internal-error" else str(exc), "retry": isinstance(exc, Transient)}


def _run_import(ctx: Context, connection: str, path: Path, options: RunOptions,
                progress: Progress, now: Callable[[], datetime] | None,
                log: RunLog, started: list[RunReport]) -> RunReport:
    clock_now = now or (lambda: datetime.now(UTC))
    clock = _Clock()
    mapping = load_import_mapping(ctx, connection)
    name = options.name or path.name
    report = RunReport(connection=connection, file=name, mode=options.mode,
                       state_location=ctx.ledger.location)
    progress.update("spool", 0, 1)
    report.sha256, size, spooled = spool_file(path, ctx.spool_dir(connection))
    record = ctx.ledger.record_file(connection, name, report.sha256, size, str(spooled),
                                    clock_now())
    report.file_id = record.id
    report.run_id = ctx.ledger.start_run(connection, options.kind, options.mode, record.id,
                                         clock_now(), about_run=options.about_run,
                                         actor=options.actor)
    log.run_id = report.run_id
    log.note(f"file {name} sha256 {report.sha256} ({size} bytes)")
    report.about_run = options.about_run
    started.append(report)
    clock.lap("spool")
    failpoint("after-spool")
    if record.duplicate_of is not None and not options.replay and options.mode == "apply":
        report.duplicate_of = record.duplicate_of
        if (repeat := repeated_content(ctx, connection, mapping, name, record)) is not None:
            report.holds, report.state = [repeat], "held"
            return _finish(ctx, report, clock, clock_now, file_state="held")
        report.state = "duplicate"
        return _finish(ctx, report, clock, clock_now, file_state="duplicate")
    progress.update("read", 0, 0)
    try:
        table = read_table(mapping, spooled, name, connection_pgp(ctx, connection))
        report.warnings = check_columns(mapping, table.columns, name)
    except FileRejected as exc:
        report.state = "rejected"
        report.problems = list(exc.problems)
        return _finish(ctx, report, clock, clock_now, file_state="rejected")
    except MissingColumns as exc:
        report.state = "rejected"
        report.problems = [Problem("missing-column", str(exc), name, 1)]
        return _finish(ctx, report, clock, clock_now, file_state="rejected")
    clock.lap("read")
    progress.update("map", 0, len(table.frame))
    target = ctx.target(connection)
    state = target.state(connection)
    records = map_table(state, mapping, table)
    clock.lap("map")
    export_time = export_time_of(mapping, name, table)
    if export_time is not None:
        ctx.ledger.set_file_export_time(record.id, export_time)
        report.export_time = export_time.isoformat()
    table = values_dropped(table)
    progress.update("plan", 0, len(table.frame))
    planned = plan_records(ctx, connection, mapping, table, records, name, state, clock_now())
    plan, file_problems = planned.plan, planned.problems
    ungrouped = without_groups(plan, name) if plan.groups_planned and \
        not keeps_groups(target, connection) else None
    clock.lap("plan")
    _fill_report(report, table, records, plan)
    report.warnings += [ungrouped] if ungrouped else []
    write_change_log(change_log_path(ctx.reports_dir(connection), _ids(report)[0]), plan)
    if file_problems or any(w.severity == "error" for w in report.warnings):
        report.problems = [*file_problems, *report.problems]
        report.state = "rejected"
        return _finish(ctx, report, clock, clock_now, file_state="rejected")
    managed = _judged_against(ctx, report, planned.managed)
    holds = file_holds(ctx, connection, table, records, plan, managed, export_time)
    report.holds = holds
    report.reject_file = _rejects(ctx, connection, report, table, records)
    held = any(h.reaction == "hold" for h in holds) and not options.force
    if options.mode == "plan":
        report.state = "planned"
        return _finish(ctx, report, clock, clock_now, file_state="planned")
    # What the run does not change for each person (rejects, skips, filters, a hold's
    # changes) is recorded per person with the run's end, in the same transaction.
    events = row_events(records, report.problems, plan, held)
    if held:
        report.state = "held"
        return _finish(ctx, report, clock, clock_now, file_state="held", events=events)
    if options.confirm is not None and not options.confirm(report):
        report.state = "planned"
        return _finish(ctx, report, clock, clock_now, file_state="planned")
    progress.update("apply", 0, len(table.frame))
    report.state = "applied"
    report.timings = clock.timings
    ctx.ledger.note_applying(_ids(report)[0], managed)
    _apply(ctx, target, report, plan, clock_now(), options.about_run, events)
    clock.lap("apply")
    progress.update("done", len(table.frame), len(table.frame))
    return report


def _judged_against(ctx: Context, report: RunReport, managed: int) -> int:
    """How many managed people the brakes judge this run against: the LMS's count now,
    unless the last apply of the same content died while changing the LMS (killed, or
    an external LMS went away half way). What that apply got done in an LMS without a
    transaction is part of this file's change, not the LMS it started from, so this
    run, which finishes it, is judged as that one was."""
    run_id, _ = _ids(report)
    earlier = ctx.ledger.unfinished_apply(report.connection, run_id, report.sha256 or "")
    return managed if earlier is None else earlier


def _fill_report(report: RunReport, table: Table, records: MappedRecords, plan: Plan) -> None:
    problems = sorted([*table.problems, *records.problems.items],
                      key=lambda p: (p.line or 0, p.column or ""))
    report.rows = table.rows_read
    report.rejected_rows = int(records.rejected.sum()) + (table.rows_read - len(table.frame))
    report.problems = problems
    report.problems_dropped = records.problems.dropped
    report.counts = {**plan.counts(), "rejected": report.rejected_rows}
    report.plan = summarize(plan)


def _rejects(ctx: Context, connection: str, report: RunReport, table: Table,
             records: MappedRecords) -> str | None:
    if not report.rejected_rows:
        return None
    target = ctx.reports_dir(connection) / f"run-{report.run_id}-rejects.csv"
    write_rejects(target, table, records, report.problems)
    return str(target)


def _apply(ctx: Context, target: Lms, report: RunReport, plan: Plan, at: datetime,
           approves: int | None = None, events: pd.DataFrame | None = None) -> None:
    """Apply the plan; the run's applied mark commits with it where the target allows.

    ``approves``: the held run this one applies; it becomes ``approved`` with the mark.
    ``events``: the run's per-person row events, written with the mark.
    """
    run_id, file_id = _ids(report)

    def applied(counts: Counts[str, int], failed: Sequence[Any]) -> dict[str, Any]:
        report.counts.update(counts)
        refused(report, failed)
        return report.to_dict()

    try:
        target.apply(plan, run_id, at, ctx.ledger.receipt(run_id, file_id, applied, at,
                                                          approves=approves,
                                                          connection=report.connection,
                                                          events=events))
    except LockLost as exc:
        stopped_before_commit(ctx, report, exc)
        raise


def _finish(ctx: Context, report: RunReport, clock: _Clock,
            clock_now: Callable[[], datetime], file_state: str,
            events: pd.DataFrame | None = None) -> RunReport:
    clock.lap("finish")
    report.timings = clock.timings
    run_state = "noop" if report.state == "duplicate" else report.state
    run_id, file_id = _ids(report)
    ctx.ledger.finish_run(run_id, run_state, report.counts, report.to_dict(), None, clock_now(),
                          events=events)
    current = ctx.ledger.get_file(file_id).state
    # A plan, a hold or a duplicate never downgrades a file that was already applied.
    if current != "applied" or file_state == "applied":
        ctx.ledger.set_file_state(file_id, file_state)
    return report


def _ids(report: RunReport) -> tuple[int, int]:
    """The run and file ids, which every report has once the file is recorded."""
    if report.run_id is None or report.file_id is None:
        raise RuntimeError("the run was not recorded in the ledger")  # a programming error
    return report.run_id, report.file_id

