"""Per-person row events of a run: rejects, skips, filters and the people of a held run.

The journal of the built-in store records what apply changed; these rows record what a
run did *not* change for a person, and why: a rejected row (code, source column, value,
line), a skipped or filtered row (the rule and line), and each change a held run would
have made. They are keyed by ``(connection, employee_id, run_id)`` and written in bulk
inside the transaction that records the run's end, so a run and its events commit
together. A rejected row that names no employee id is not written here: it belongs to
no person, and the run's report and reject file keep it.

Retention cuts a row down to its kind, code, field and line (values and messages are
personal data) and marks it ``expired``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.ledger.schema import runs
from filebridge.sql import execute_many, reading

EVENT_KINDS = ("reject", "skip", "filter", "held")
# The columns of an events frame, as ``row_events`` builds it and ``write_events`` takes it.
EVENT_COLUMNS = ("employee_id", "kind", "code", "field", "old", "value", "line", "message")

metadata = sa.MetaData()

person_events = sa.Table(
    "person_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    # reject: the problem code; skip/filter: the plan's reason; held: the planned action.
    sa.Column("code", sa.String(40), nullable=True),
    # reject: the source column; held update: the canonical field.
    sa.Column("field", sa.Text, nullable=True),
    sa.Column("old", sa.Text, nullable=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("line", sa.Integer, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("expired", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_person_events_person", "connection", "employee_id", "run_id"),
    sa.Index("ix_person_events_run", "run_id"),
    sa.CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in EVENT_KINDS) + ")",
                       name="ck_person_events_kind"),
)


def create_person_event_tables(conn: Connection) -> None:
    """Ledger migration ``0011_person_row_events``: the per-person event table."""
    metadata.create_all(conn)


def _column(series: pd.Series, as_int: bool = False) -> list[Any]:
    """A frame column as DBAPI-ready values, NaN and NA as None, converted column-wise."""
    if as_int:
        series = pd.Series(pd.array(pd.to_numeric(series), dtype="Int64"), index=series.index)
        values = series.astype(object)
        return values.where(values.notna(), None).tolist()
    present = series.notna()
    return series.astype(str).astype(object).where(present, None).tolist()


def write_events(tx: Connection, connection: str, run_id: int,
                 events: pd.DataFrame | None) -> int:
    """Insert ``events`` (``EVENT_COLUMNS``) of ``run_id`` inside ``tx``; returns the count."""
    if events is None or events.empty:
        return 0
    columns = {c: _column(events[c], as_int=c == "line") for c in EVENT_COLUMNS}
    return execute_many(tx, person_events.insert(), columns,
                        {"connection": connection, "run_id": run_id, "expired": False})


def events_of(engine: Engine, connection: str, employee_ids: Sequence[str],
              since: datetime | None = None) -> pd.DataFrame:
    """Events of these people (``run_id``, ``expired`` and ``EVENT_COLUMNS``), by run and
    line, read through the ``(connection, employee_id, run_id)`` index."""
    stmt = (sa.select(person_events.c.run_id, person_events.c.expired,
                      *(person_events.c[c] for c in EVENT_COLUMNS))
            .where(person_events.c.connection == connection,
                   person_events.c.employee_id.in_(list(employee_ids)))
            .order_by(person_events.c.run_id, person_events.c.id))
    if since is not None:
        started = sa.select(runs.c.id).where(runs.c.connection == connection,
                                             runs.c.started_at >= since.astimezone(UTC))
        stmt = stmt.where(person_events.c.run_id.in_(started))
    with reading(engine) as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def has_events(engine: Engine, connection: str, employee_id: str) -> bool:
    """True when some run recorded an event for this employee id of ``connection``."""
    with reading(engine) as conn:
        return conn.scalar(sa.select(person_events.c.id).where(
            person_events.c.connection == connection,
            person_events.c.employee_id == employee_id).limit(1)) is not None


def expire_events(engine: Engine, connection: str, before: datetime,
                  dry_run: bool = False) -> int:
    """Cut the events of ``connection``'s runs started before ``before`` to kind, code,
    field and line; returns how many rows were (or, with ``dry_run``, would be) cut."""
    old_runs = sa.select(runs.c.id).where(runs.c.connection == connection,
                                          runs.c.started_at < before.astimezone(UTC))
    due = sa.and_(person_events.c.connection == connection,
                  person_events.c.expired == sa.false(),
                  person_events.c.run_id.in_(old_runs))
    if dry_run:
        with reading(engine) as conn:
            return int(conn.scalar(sa.select(sa.func.count()).where(due)) or 0)
    with engine.begin() as tx:
        return int(tx.execute(person_events.update().where(due).values(
            old=None, value=None, message=None, expired=True)).rowcount)
