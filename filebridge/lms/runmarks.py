"""The built-in store's own record of the runs it committed, for a ledger elsewhere.

The change journal names the run of every changed person, but a run that changed
nobody (an empty plan, org records only) leaves no row there, and counts such as
fields updated cannot be read back from it. So when the ledger lives in another
database, the store writes one row per run inside the run's own transaction: the run
id, the connection, the digest of the plan and the counts. Whatever happens to the
ledger afterwards, this row says whether the run committed and what it did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.failpoints import failpoint
from filebridge.lms.interface import ApplyResult, Receipt
from filebridge.plan.model import Plan
from filebridge.sql import reading

metadata = sa.MetaData()

applied_runs = sa.Table(
    "applied_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Ledger run ids; two ledgers on one store could repeat one, so the digest and the
    # connection must match too.
    sa.Column("run_id", sa.Integer, nullable=False, index=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("plan_digest", sa.String(64), nullable=False),
    sa.Column("counts", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

_FRAMES = ("creates", "updates", "deactivations", "reactivations", "deletes", "rekeys", "org")


def create_run_tables(conn: Connection) -> None:
    """Migration ``0006``: the table of committed runs."""
    metadata.create_all(conn)


def plan_digest(plan: Plan) -> str:
    """A sha256 over the plan's changes (column-wise hashes, no Python loop over rows)."""
    return digest_of(plan.connection, {name: getattr(plan, name) for name in _FRAMES})


def digest_of(connection: str, frames: Mapping[str, pd.DataFrame]) -> str:
    """A sha256 over named frames of changes of ``connection``."""
    digest = hashlib.sha256(connection.encode())
    for name, frame in frames.items():
        digest.update(f"{name}:{len(frame)}:{','.join(map(str, frame.columns))}".encode())
        if len(frame):
            text = frame.astype(str)  # mixed object columns hash alike on every run
            digest.update(pd.util.hash_pandas_object(text, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def mark_run(tx: Connection, connection: str, run_id: int, digest: str,
             counts: Mapping[str, int], now: datetime) -> None:
    """Record, inside the run's transaction, that the run committed these counts."""
    tx.execute(applied_runs.insert().values(
        run_id=run_id, connection=connection, plan_digest=digest,
        counts=json.dumps({k: int(v) for k, v in counts.items()}), at=now))


def committed_run(engine: Engine, connection: str, run_id: int, digest: str
                  ) -> dict[str, int] | None:
    """The counts ``run_id`` committed with the plan of this digest, or None when the
    store never committed it."""
    with reading(engine) as conn:
        text = conn.scalar(sa.select(applied_runs.c.counts).where(
            applied_runs.c.run_id == run_id, applied_runs.c.connection == connection,
            applied_runs.c.plan_digest == digest).limit(1))
    return None if text is None else dict(json.loads(text))


def send_marked(engine: Engine, plan: Plan, run_id: int | None, now: datetime,
                receipt: Receipt | None, send: Callable[[], ApplyResult]) -> ApplyResult:
    """Run ``send`` (the changes of a target without transactions, such as SCIM or
    Moodle) between the ledger's intent and the run's mark in ``engine``, then write the
    receipt.

    The target's changes never share a transaction with the ledger: the intent comes
    first, the end of the sending is marked beside the target's journal, and a run
    interrupted in between is settled from there (``committed_run``).
    """
    digest = plan_digest(plan)
    if receipt is not None and run_id is not None:
        receipt.intend(digest, plan.counts())
    result = send()
    if receipt is not None and run_id is not None:
        with engine.begin() as tx:
            mark_run(tx, plan.connection, run_id, digest, result.counts, now)
    failpoint("after-commit")
    if receipt is not None:
        receipt.write(result.counts, None, result.failed)
    return result
