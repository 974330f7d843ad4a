"""Settle runs whose LMS changes and applied mark commit in different databases.

Such a run records its intent in the ledger before the LMS store writes anything, and
the store marks the run inside the transaction of its changes. A run whose intent is
still open has ended without its outcome in the ledger (the process died, or the
ledger failed right after the store's commit): the store's mark says what happened.
Found there, the run is applied with the counts the store recorded, so history shows
it and undo accepts it; not found, it failed and nothing was applied.

Only a process holding a connection's lock settles that connection's intents: an open
intent of another live run is never touched (intents are recorded under the lock).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, cast

from filebridge.errors import ErrorInfo, FilebridgeError
from filebridge.ledger.intents import Intent
from filebridge.ledger.locks import ConnectionBusy, LockLost
from filebridge.pipeline.report import RunReport

if TYPE_CHECKING:  # the context opens with a settle, so it imports this module
    from filebridge.pipeline.context import Context

log = logging.getLogger(__name__)


def settle_open_runs(ctx: Context, connection: str | None = None, *,
                     locked: bool = False) -> list[int]:
    """Settle the open intents (of ``connection``, or every connection); ``locked``: the
    caller holds ``connection``'s lock already. Returns the run ids settled; a
    connection busy with a run is left for later."""
    pending = ctx.ledger.intents.open(connection)
    settled: list[int] = []
    for name in dict.fromkeys(i.connection for i in pending):
        mine = [i for i in pending if i.connection == name]
        if locked:
            settled += _settle(ctx, mine)
            continue
        try:
            with ctx.ledger.lock(name):
                settled += _settle(ctx, ctx.ledger.intents.open(name))
        except ConnectionBusy:
            log.info("%s: a run is going on; its open runs are settled later", name)
    return settled


def stopped_before_commit(ctx: Context, report: RunReport, exc: LockLost) -> None:
    """Record a run that stopped before its commit because its lock was lost."""
    report.state = "failed"
    ctx.ledger.intents.stopped(int(report.run_id or 0), report.to_dict(),
                               ErrorInfo.of(exc).to_dict(), datetime.now(UTC))


def settle_quietly(ctx: Context) -> list[int]:
    """``settle_open_runs`` for every connection at start-up: a store that cannot be
    reached now leaves the intents open (a warning), and the command goes on."""
    try:
        return settle_open_runs(ctx)
    except FilebridgeError as exc:
        log.warning("runs waiting for their outcome were not settled: %s", exc)
        return []


def _settle(ctx: Context, intents: list[Intent]) -> list[int]:
    now = datetime.now(UTC)
    done = []
    for intent in intents:
        journal = _journal_of(ctx, intent.connection)
        counts = journal.committed_run(intent.connection, intent.run_id, intent.plan_digest)
        if counts is not None:
            ctx.ledger.intents.settle_applied(intent, counts, now)
            log.info("run %d of %s: committed by the LMS target, now marked applied",
                     intent.run_id, intent.connection)
        elif confirmed := _confirmed(journal, intent):
            ctx.ledger.intents.settle_failed(intent, {
                "code": "interrupted", "message": "the run ended before it sent its whole "
                f"plan; the LMS confirmed {sum(confirmed.values())} change(s) of it "
                "(counted in this run), the next run of the file sends the rest"},
                now, done=confirmed)
        else:
            ctx.ledger.intents.settle_failed(intent, {
                "code": "interrupted", "message": "the run ended before the LMS target "
                "committed its changes: nothing was applied"}, now)
            log.info("run %d of %s: nothing committed by the LMS target, failed",
                     intent.run_id, intent.connection)
        done.append(intent.run_id)
    return done


class _RunJournal(Protocol):
    def committed_run(self, connection: str, run_id: int, digest: str
                      ) -> dict[str, int] | None: ...


def _journal_of(ctx: Context, connection: str) -> _RunJournal:
    """The target that marked the connection's runs (the built-in store keeps the marks
    of every target, so a connection no longer configured is looked up there)."""
    if connection in ctx.settings.connections:
        target = ctx.target(connection)
        if hasattr(target, "committed_run"):
            return cast(_RunJournal, target)
    return ctx.store


def _confirmed(journal: _RunJournal, intent: Intent) -> dict[str, int]:
    """What a target without transactions confirmed of a run cut short."""
    read = getattr(journal, "confirmed_in_run", None)
    return {} if read is None else dict(read(intent.connection, intent.run_id))
