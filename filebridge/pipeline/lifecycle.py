"""Runs that act on other runs or on existing LMS users: approve, discard, undo, link.

Each is recorded in the ledger as a run of its own kind; approve and undo change the
LMS in one transaction together with their ledger record, like an import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from filebridge.ledger.ledger import RunRecord
from filebridge.ledger.locks import LockLost
from filebridge.lms import ApplyResult, Receipt, SqlStore
from filebridge.mapping import check_columns
from filebridge.pipeline.changelog import (
    RunLog,
    adoption_rows,
    change_log_path,
    run_logged,
    write_change_log,
)
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import NotHeld, NotUndoable, UnsupportedByTarget
from filebridge.pipeline.importer import (
    RunOptions,
    load_import_mapping,
    map_table,
    read_table,
    run_import_locked,
)
from filebridge.pipeline.layout import connection_pgp
from filebridge.pipeline.older_data import check_approvable
from filebridge.pipeline.report import Adoption, Adoptions, Refusal, RunReport
from filebridge.pipeline.settle import settle_open_runs, stopped_before_commit
from filebridge.pipeline.spool import spool_of
from filebridge.plan.guard import GuardPolicy, judge
from filebridge.plan.summary import summarize

Confirm = Callable[[RunReport], bool]
UNDOABLE = ("import", "replay", "approve", "undo")


def _now() -> datetime:
    return datetime.now(UTC)


def held_run(ctx: Context, run_id: int) -> RunRecord:
    """The run, which must be waiting for approval."""
    run = ctx.ledger.get_run(run_id)
    if run.state != "held":
        raise NotHeld(run_id, run.state)
    return run


def approve(ctx: Context, run_id: int, confirm: Confirm | None = None,
            lock_wait: float = 0.0, stale_ok: bool = False, actor: str | None = None
            ) -> RunReport:
    """Re-plan a held run's file against the LMS as it is now and apply it past the guard.

    The new run has kind ``approve`` and names the held run in ``about_run``; the held
    run becomes ``approved`` in the apply's transaction. ``confirm`` sees the new plan
    first; declining leaves the held run held. A newer file applied since the run was
    held stops the approval (``StaleApproval``) unless ``stale_ok``.
    """
    run = held_run(ctx, run_id)
    if run.kind == "undo" and run.about_run is not None:
        return undo(ctx, run.about_run, confirm, lock_wait=lock_wait, force=True,
                    approves=run_id, actor=actor)
    file = ctx.ledger.get_file(run.file_id) if run.file_id is not None else None
    if file is None:
        raise NotHeld(run_id, "without a file")
    with ctx.ledger.lock(run.connection, wait_seconds=lock_wait):
        # Under the lock: a newer file applied since the run was held, or another
        # approval of it, is seen here and cannot slip in before the apply.
        run = held_run(ctx, run_id)
        check_approvable(ctx, run, file, stale_ok)
        spooled = spool_of(file)
        return run_import_locked(ctx, run.connection, spooled, RunOptions(
            "apply", replay=True, force=True, kind="approve", name=file.name,
            confirm=confirm, lock_wait=lock_wait, about_run=run_id, actor=actor))


def discard(ctx: Context, run_id: int, now: Callable[[], datetime] = _now,
            actor: str | None = None) -> RunReport:
    """Drop a held run: it becomes ``discarded`` and a ``discard`` run records who did it
    when (with its own log of lines, like every run)."""
    run = held_run(ctx, run_id)
    file = ctx.ledger.get_file(run.file_id) if run.file_id is not None else None
    report = RunReport(connection=run.connection, file=file.name if file else "",
                       mode="apply", state="applied", file_id=run.file_id, about_run=run_id,
                       state_location=ctx.ledger.location)
    with run_logged(ctx, run.connection) as log:
        report.run_id = log.run_id = ctx.ledger.start_run(
            run.connection, "discard", "apply", run.file_id, now(), about_run=run_id,
            actor=actor)
        log.note(f"discard held run {run_id}" + (f" by {actor}" if actor else ""))
        write_change_log(change_log_path(ctx.reports_dir(run.connection), report.run_id),
                         None)  # a discard changes nothing in the LMS
        ctx.ledger.discard(run_id, report.run_id, report.to_dict(), now())
        log.ended(report.run_id, report.state, report.counts)
    return report


def undo(ctx: Context, run_id: int, confirm: Confirm | None = None,
         now: Callable[[], datetime] = _now, lock_wait: float = 0.0, force: bool = False,
         approves: int | None = None, actor: str | None = None) -> RunReport:
    """Restore what ``run_id`` changed where no later run changed it; journaled as a run.

    The undo goes through the connection's brakes like an import: above them it is held
    (approve plans it again and applies it) unless ``force``. ``approves``: the held undo
    run this one applies; it becomes ``approved`` with the applied mark.
    """
    target = ctx.ledger.get_run(run_id)
    store = _builtin(ctx, target.connection, "undo")
    with ctx.ledger.lock(target.connection, wait_seconds=lock_wait):
        settle_open_runs(ctx, target.connection, locked=True)  # the run's outcome, surely
        target = ctx.ledger.get_run(run_id)
        if target.kind not in UNDOABLE or target.state not in ("applied", "approved"):
            raise NotUndoable(run_id, target.kind, target.state)
        with run_logged(ctx, target.connection) as log:
            report = _undo(ctx, store, run_id, log, confirm, now, force, approves, actor)
            log.ended(report.run_id, report.state, report.counts)
            return report


def _undo(ctx: Context, store: SqlStore, run_id: int, log: RunLog, confirm: Confirm | None,
          now: Callable[[], datetime], force: bool, approves: int | None,
          actor: str | None) -> RunReport:
    """``undo`` under the connection's lock, logging to ``log``."""
    target = ctx.ledger.get_run(run_id)
    plan, refused = store.undo_plan(target.connection, run_id)
    report = RunReport(connection=target.connection, file=f"undo of run {run_id}",
                       mode="apply", about_run=run_id, state_location=ctx.ledger.location)
    report.run_id = log.run_id = ctx.ledger.start_run(
        target.connection, "undo", "apply", None, now(), about_run=run_id, actor=actor)
    log.note(f"undo of run {run_id}: {len(refused)} changes left alone (changed since)")
    report.plan = summarize(plan)
    write_change_log(change_log_path(ctx.reports_dir(target.connection), report.run_id),
                     plan)
    report.counts = {**plan.counts(), "refused": len(refused)}
    report.refused = [Refusal(**{k: (v if v == v else "") for k, v in r.items()})
                      for r in refused.to_dict("records")]
    managed = int(store.state(target.connection).snapshot()["active"].sum())
    holds = judge(plan, managed, 0, 0, GuardPolicy.from_config(
        ctx.connection(target.connection).thresholds))
    report.holds = holds
    if any(h.reaction == "hold" for h in holds) and not force:
        report.state = "held"
        ctx.ledger.finish_run(report.run_id, "held", report.counts, report.to_dict(), None,
                              now())
        return report
    return _apply_or_stop(ctx, report, confirm, now, lambda receipt: store.apply(
        plan, report.run_id, now(), receipt), plan.is_empty(), approves)


def link(ctx: Context, connection: str, path: Path, by: Literal["email", "employee_id"],
         confirm: Confirm | None = None, now: Callable[[], datetime] = _now,
         lock_wait: float = 0.0) -> RunReport:
    """Adopt unmanaged LMS users who match the file's people on ``by`` into ``connection``."""
    mapping = load_import_mapping(ctx, connection)
    table = read_table(mapping, path, path.name, connection_pgp(ctx, connection))
    check_columns(mapping, table.columns, path.name)  # header drift: MissingColumns
    store = _adopter(ctx, connection)
    records = map_table(store.state(connection), mapping, table)
    with ctx.ledger.lock(connection, wait_seconds=lock_wait):
        pairs = store.adoption_candidates(connection, records.accepted(), by)
        report = RunReport(connection=connection, file=path.name, mode="apply",
                           state_location=ctx.ledger.location)
        with run_logged(ctx, connection) as log:
            report.run_id = log.run_id = ctx.ledger.start_run(connection, "link", "apply",
                                                              None, now())
            log.note(f"link {path.name} by {by}: {len(pairs)} matching accounts")
            _link(ctx, store, connection, pairs, report, confirm, now)
            log.ended(report.run_id, report.state, report.counts)
            return report


def _link(ctx: Context, store: Any, connection: str, pairs: Any, report: RunReport,
          confirm: Confirm | None, now: Callable[[], datetime]) -> RunReport:
    """Plan and apply (or stop at ``confirm``) the adoptions ``pairs``."""
    adoptions = Adoptions(tuple(
        Adoption(int(r["user_id"]), r["lms_employee_id"], r["email"], r["employee_id"],
                 int(r["line"]), r["note"]) for r in pairs.to_dict("records")))
    report.plan = adoptions
    adoptable = int((pairs["note"] == "").sum())
    report.counts = {"adopt": adoptable, "not_adopted": len(pairs) - adoptable}
    write_change_log(change_log_path(ctx.reports_dir(connection), int(report.run_id or 0)),
                     adoption_rows(adoptions))
    return _apply_or_stop(ctx, report, confirm, now, lambda receipt: store.adopt(
        connection, pairs, report.run_id, now(), receipt), adoptable == 0)


def _builtin(ctx: Context, connection: str, command: str) -> SqlStore:
    """The built-in store, when it is what ``connection`` feeds (undo and link read its
    own journal and unmanaged accounts)."""
    target = ctx.target(connection)
    ok = target.capabilities.undo if command == "undo" else target.capabilities.adopt
    if not ok or not isinstance(target, SqlStore):
        raise UnsupportedByTarget(connection=connection, command=command,
                                  target=target.location)
    return target


def _adopter(ctx: Context, connection: str) -> Any:
    """The target of ``connection`` when it can adopt accounts it does not manage (the
    built-in store, Moodle): ``adoption_candidates`` and ``adopt``, as ``SqlStore`` has."""
    target = ctx.target(connection)
    if not target.capabilities.adopt or not hasattr(target, "adoption_candidates"):
        raise UnsupportedByTarget(connection=connection, command="link",
                                  target=target.location)
    return target


def _apply_or_stop(ctx: Context, report: RunReport, confirm: Confirm | None,
                   now: Callable[[], datetime], write: Callable[[Receipt], ApplyResult],
                   empty: bool, approves: int | None = None) -> RunReport:
    run_id = int(report.run_id or 0)
    if not empty and confirm is not None and not confirm(report):
        report.state = "planned"
        ctx.ledger.finish_run(run_id, "planned", report.counts, report.to_dict(), None,
                              now())
        return report
    report.state = "applied"

    def applied(counts: Mapping[str, int], failed: Sequence[Any]) -> dict[str, Any]:
        report.counts.update(counts)
        return report.to_dict()

    try:
        write(ctx.ledger.receipt(run_id, None, applied, now(), approves=approves,
                                 connection=report.connection))
    except LockLost as exc:
        stopped_before_commit(ctx, report, exc)
        raise
    return report
