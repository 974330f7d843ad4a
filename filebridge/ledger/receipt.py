"""The ledger's "applied" mark of a run, written with the LMS changes when it can be.

The pipeline hands a ``RunReceipt`` to the LMS target unopened. The built-in store,
when it lives in the ledger's database, writes it inside the transaction of the
changes, so both commit together or not at all; any other target records the run's
intent first (``intend``), marks the run in its own journal with its changes, and has
the mark written right after them, in the ledger's own transaction, settling the intent
(see ``intents``). Before a commit the target asks ``check``: a run whose connection lock
was lost must not commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from filebridge.ledger.intents import Intent

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from filebridge.ledger.ledger import Ledger

# Builds the report to store from the apply's counts (the report includes them) and the
# changes the target refused (``ChangeOutcome`` values, row errors of the run).
ReportOf = Callable[[Mapping[str, int], Sequence[Any]], Mapping[str, Any]]


class RunReceipt:
    """Marks one run applied (its file too, and the held run it approves)."""

    def __init__(self, ledger: Ledger, run_id: int, file_id: int | None, report: ReportOf,
                 *, approves: int | None = None, at: Any = None,
                 connection: str | None = None, events: Any = None) -> None:
        self.ledger = ledger
        self.events = events  # the run's per-person row events (a frame), or None
        self.run_id = run_id
        self.file_id = file_id
        self.report = report
        self.approves = approves
        self.at = at
        self.connection = connection

    def shares(self, database: object) -> bool:
        """True when ``database`` (a target's engine) is the ledger's own."""
        return database is self.ledger.engine

    def check(self) -> None:
        """Raise ``LockLost`` when this process no longer holds the run's connection lock."""
        lock = self.ledger.held_lock(self.connection) if self.connection else None
        if lock is not None:
            lock.check()

    def intend(self, plan_digest: str, counts: Mapping[str, int]) -> None:
        """Record, before a target outside the ledger's database writes anything, that
        this run is about to apply the plan with this digest and these counts."""
        self.ledger.intents.record(Intent(
            self.run_id, self.connection or "", self.file_id, self.approves, plan_digest,
            dict(counts), dict(self.report(counts, ())), datetime.now(UTC)))

    def write(self, counts: Mapping[str, int], within: object | None,
              failed: Sequence[Any] = ()) -> None:
        """Record the run applied, inside ``within`` (an open transaction) when given;
        ``failed``: the changes the target refused."""
        tx: Connection | None = within  # type: ignore[assignment]
        if tx is None:
            with self.ledger.engine.begin() as own:
                self._write(counts, own, failed)
                self.ledger.intents.close(own, self.run_id, "applied", datetime.now(UTC))
        else:
            self._write(counts, tx, failed)

    def _write(self, counts: Mapping[str, int], tx: Connection, failed: Sequence[Any]) -> None:
        report = dict(self.report(counts, failed))
        self.ledger.finish_run(self.run_id, "applied", dict(report.get("counts", counts)),
                               report, None, self.at, tx=tx, events=self.events)
        if self.file_id is not None:
            self.ledger.set_file_state(self.file_id, "applied", tx=tx)
        if self.approves is not None:
            self.ledger.set_run_state(self.approves, "approved", tx=tx)
