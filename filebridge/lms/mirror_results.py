"""Course results of the people of an external target (SCIM, Moodle) loaded from files.

An external target keeps its people in the mirror, not in the built-in store's ``users``
table, so their results cannot hang off a store id. They live in ``lms_results``, keyed
by connection, employee id, course code and attempt, and take their revision from the
store-wide completion counter: the export road selects them after a revision exactly
as it selects the built-in store's own results. The export joins them to the mirror, so
a person the connection no longer manages (forgotten from the mirror) is not exported,
while a leaver (inactive in the mirror) still is, as in the built-in store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.completions import EXPORT_COLUMNS, CompletionInput, next_revision
from filebridge.lms.mirror import mirror
from filebridge.sql import fetch_raw, reading

metadata = sa.MetaData()

results = sa.Table(
    "lms_results", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("course_code", sa.Text, nullable=False),
    sa.Column("course_title", sa.Text, nullable=False, server_default=""),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("time_spent_minutes", sa.Integer, nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("connection", "employee_id", "course_code", "attempt",
                        name="uq_lms_results_attempt"),
    sa.Index("ix_lms_results_revision", "connection", "revision"),
)

MirroredPerson = tuple[str, str]  # (connection, employee id)
_VALUES = ("status", "completed_at", "score", "time_spent_minutes", "course_title")


def create_results_table(conn: Connection) -> None:
    """Mirror migration 0004: the results table of external targets' people."""
    metadata.create_all(conn)


def mirrored_people(conn: Connection, connection: str | None,
                    employee_ids: Iterable[str]) -> dict[str, list[MirroredPerson]]:
    """(connection, employee id) of the mirrored people with these employee ids."""
    ids = sorted(set(employee_ids))
    out: dict[str, list[MirroredPerson]] = {i: [] for i in ids}
    if not sa.inspect(conn).has_table(mirror.name):
        return out  # no external target was ever opened on this database
    for start in range(0, len(ids), 900):
        stmt = sa.select(mirror.c.connection, mirror.c.employee_id).where(
            mirror.c.employee_id.in_(ids[start:start + 900]))
        if connection is not None:
            stmt = stmt.where(mirror.c.connection == connection)
        for owner, employee_id in conn.execute(stmt.order_by(mirror.c.connection)):
            out[employee_id].append((str(owner), str(employee_id)))
    return out


def record_results(tx: Connection, items: Sequence[CompletionInput],
                   now: datetime) -> dict[str, int]:
    """Insert new results of mirrored people, correct changed ones, skip identical ones.

    Each item's ``user_id`` is a ``(connection, employee id)`` pair. Returns the same
    ``inserted``, ``corrected``, ``unchanged`` counts as the built-in store.
    """
    counts = {"inserted": 0, "corrected": 0, "unchanged": 0}
    for item in items:
        assert isinstance(item.user_id, tuple)
        owner, employee_id = item.user_id
        key = (results.c.connection == owner, results.c.employee_id == employee_id,
               results.c.course_code == item.course_code, results.c.attempt == item.attempt)
        row = tx.execute(sa.select(results.c.id, *(results.c[v] for v in _VALUES))
                         .where(*key)).first()
        values = {"status": item.status, "completed_at": item.completed_at,
                  "score": item.score, "time_spent_minutes": item.time_spent_minutes,
                  "course_title": item.course_title, "recorded_at": now}
        if row is None:
            tx.execute(results.insert().values(
                connection=owner, employee_id=employee_id, course_code=item.course_code,
                attempt=item.attempt, revision=next_revision(tx), **values))
            counts["inserted"] += 1
        elif _same(row, values):
            counts["unchanged"] += 1
        else:
            tx.execute(results.update().where(results.c.id == row.id)
                       .values(revision=next_revision(tx), **values))
            counts["corrected"] += 1
    return counts


def _same(row: Any, values: dict[str, Any]) -> bool:
    stored = pd.Timestamp(row.completed_at)
    stored = stored.tz_localize("UTC") if stored.tzinfo is None else stored
    return (row.status, stored, row.score, row.time_spent_minutes, row.course_title) == (
        values["status"], pd.Timestamp(values["completed_at"]), values["score"],
        values["time_spent_minutes"], values["course_title"])


def results_for_export(engine: Engine, connection: str, *, after_revision: int | None = None,
                       completed_from: datetime | None = None,
                       completed_until: datetime | None = None) -> pd.DataFrame:
    """Results of the people ``connection`` manages (its mirror), oldest revision first,
    in the columns of the built-in store's ``completions_for_export``."""
    r = results
    stmt = (sa.select(r.c.id, r.c.revision, r.c.attempt, r.c.employee_id, mirror.c.fields,
                      r.c.course_code, r.c.course_title, r.c.status, r.c.completed_at,
                      r.c.score, r.c.time_spent_minutes, r.c.recorded_at)
            .join(mirror, sa.and_(mirror.c.connection == r.c.connection,
                                  mirror.c.employee_id == r.c.employee_id))
            .where(r.c.connection == connection).order_by(r.c.revision, r.c.id))
    if after_revision is not None:
        stmt = stmt.where(r.c.revision > after_revision)
    if completed_from is not None:
        stmt = stmt.where(r.c.completed_at >= completed_from)
    if completed_until is not None:
        stmt = stmt.where(r.c.completed_at < completed_until)
    with reading(engine) as conn:
        rows = fetch_raw(conn, stmt)
    return export_frame([(rid, rev, att, eid, json.loads(fields), *rest)
                         for rid, rev, att, eid, fields, *rest in rows])


class MirrorResults:
    """The export road's view of the results loaded for external targets' people."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def completions_for_export(self, connection: str, *, after_revision: int | None = None,
                               completed_from: datetime | None = None,
                               completed_until: datetime | None = None) -> pd.DataFrame:
        """Results of the people ``connection`` manages (see ``results_for_export``)."""
        frame = results_for_export(self.engine, connection, after_revision=after_revision,
                                   completed_from=completed_from,
                                   completed_until=completed_until)
        frame["item"] = "result:" + frame["completion_id"].astype(str)
        return frame

    def overdue_assignments(self, connection: str, now: datetime, *,
                            due_from: datetime | None = None) -> pd.DataFrame:
        """Assignments are kept for the built-in store's people only: none here."""
        return no_assignments()


def no_assignments() -> pd.DataFrame:
    """An empty frame in the columns of ``overdue_assignments``."""
    columns = ["enrollment_id", "employee_id", "email", "first_name", "last_name",
               "department_code", "course_code", "course_title", "due_at", "assigned_at"]
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    for name in ("due_at", "assigned_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def export_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """The export columns from ``(id, revision, attempt, employee id, person fields (a
    dict of canonical fields), course code, course title, status, completed at, score,
    minutes, recorded at)`` tuples."""
    person = ("email", "first_name", "last_name", "department_code")
    out = [(rid, rev, att, eid, *(str(fields.get(p, "") or "") for p in person), *rest)
           for rid, rev, att, eid, fields, *rest in rows]
    frame = pd.DataFrame(out, columns=list(EXPORT_COLUMNS))
    for name in ("completed_at", "recorded_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
