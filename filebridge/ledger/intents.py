"""Runs whose changes and applied mark cannot commit in one transaction.

When the ledger lives in another database than the LMS target's changes, a run's
changes commit first and its applied mark second: a process that dies (or a ledger
that fails) in between would leave a run shown ``failed`` that changed the LMS. So
such a run records its *intent* here before the target writes anything (the run, the
plan's digest and planned counts, the report to store); the target marks the run in
its own journal inside its transaction; the applied mark settles the intent. An intent
left open is settled later from the target's journal (``settle_applied`` with the
counts found there, or ``settle_failed`` when the target never committed), so history
and undo tell the truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.sql import reading

if TYPE_CHECKING:
    from filebridge.ledger.ledger import Ledger

INTENT_OUTCOMES = ("applied", "failed")

metadata = sa.MetaData()

intents = sa.Table(
    "run_intents",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("file_id", sa.Integer, nullable=True),
    sa.Column("approves", sa.Integer, nullable=True),  # the held run an approve applies
    sa.Column("plan_digest", sa.String(64), nullable=False),
    sa.Column("counts", sa.Text, nullable=False),  # planned counts, JSON
    sa.Column("report", sa.Text, nullable=False),  # the report to store, JSON
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=True),  # NULL while open
    sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_run_intents_open", "outcome", "connection"),
    sa.CheckConstraint("outcome IN ('applied', 'failed')", name="ck_run_intents_outcome"),
)


def create_intent_tables(conn: Connection) -> None:
    """Migration ``0007``: the table of apply intents."""
    metadata.create_all(conn)


@dataclass(frozen=True)
class Intent:
    """An apply that was about to write to a target outside the ledger's database."""

    run_id: int
    connection: str
    file_id: int | None
    approves: int | None
    plan_digest: str
    counts: dict[str, int]
    report: dict[str, Any]
    recorded_at: datetime


class Intents:
    """Open and settled intents, over the ledger's engine."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.engine: Engine = ledger.engine

    def record(self, intent: Intent) -> None:
        """Write the intent, in its own transaction, before the target writes anything."""
        with self.engine.begin() as tx:  # a re-entered apply of the run states it again
            tx.execute(intents.delete().where(intents.c.run_id == intent.run_id))
            tx.execute(intents.insert().values(
                run_id=intent.run_id, connection=intent.connection, file_id=intent.file_id,
                approves=intent.approves, plan_digest=intent.plan_digest,
                counts=json.dumps(intent.counts), report=json.dumps(intent.report),
                recorded_at=intent.recorded_at))

    def close(self, tx: Connection, run_id: int, outcome: str, now: datetime) -> None:
        """Mark ``run_id``'s intent settled inside ``tx`` (no-op without an intent)."""
        tx.execute(intents.update().where(intents.c.run_id == run_id,
                                          intents.c.outcome.is_(None))
                   .values(outcome=outcome, settled_at=now))

    def open(self, connection: str | None = None) -> list[Intent]:
        """Intents not settled yet, oldest first (one connection's, or all)."""
        stmt = sa.select(intents).where(intents.c.outcome.is_(None)).order_by(intents.c.run_id)
        if connection is not None:
            stmt = stmt.where(intents.c.connection == connection)
        with reading(self.engine) as conn:
            return [Intent(r.run_id, r.connection, r.file_id, r.approves, r.plan_digest,
                           json.loads(r.counts), json.loads(r.report), r.recorded_at)
                    for r in conn.execute(stmt)]

    def settle_applied(self, intent: Intent, counts: Mapping[str, int], now: datetime) -> None:
        """The target committed the run: mark it applied with the counts it recorded
        (its file applied, the held run it approves approved), in one transaction."""
        report = {**intent.report, "state": "applied",
                  "counts": {**intent.report.get("counts", {}), **counts},
                  "settled": "the applied mark was recorded after the run, from the LMS "
                             "store's journal"}
        with self.engine.begin() as tx:
            self.ledger.finish_run(intent.run_id, "applied", dict(report["counts"]), report,
                                   None, now, tx=tx)
            if intent.file_id is not None:
                self.ledger.set_file_state(intent.file_id, "applied", tx=tx)
            if intent.approves is not None:
                self.ledger.set_run_state(intent.approves, "approved", tx=tx)
            self.close(tx, intent.run_id, "applied", now)

    def settle_failed(self, intent: Intent, error: Mapping[str, Any], now: datetime,
                      done: Mapping[str, int] | None = None) -> None:
        """The target never committed the run: failed, nothing applied; or, for a target
        without transactions, failed with ``done`` the changes it did confirm."""
        counts = dict(done or {})
        report = {**intent.report, "state": "failed", "counts": counts}
        # The run's note of the managed count it was judged against stays in its counts,
        # so the rerun that finishes it is judged the same way.
        kept = {**self.ledger.applying_note(intent.run_id), **counts}
        with self.engine.begin() as tx:
            self.ledger.finish_run(intent.run_id, "failed", kept, report, dict(error), now,
                                   tx=tx)
            self.close(tx, intent.run_id, "failed", now)

    def stopped(self, run_id: int, report: Mapping[str, Any], error: Mapping[str, Any],
                now: datetime) -> None:
        """The run stopped before its target committed (its lock was lost): failed,
        nothing applied, its intent (if any) settled with it."""
        with self.engine.begin() as tx:
            self.ledger.finish_run(run_id, "failed", {}, dict(report), dict(error), now,
                                   tx=tx)
            self.close(tx, run_id, "failed", now)
