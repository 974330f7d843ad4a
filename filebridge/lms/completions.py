"""Learning records of the built-in store: courses, assignments and completions, with revisions.

Every insert or correction of a completion takes the next value of one store-wide
counter (``revision``). Exports select by revision, never by a clock: the counter is
bumped inside the writing transaction (SQLite's BEGIN IMMEDIATE, PostgreSQL's row
lock on the counter), so committed revisions never appear out of order and a
watermark over them can neither skip nor repeat a row when clocks are skewed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.schema import completions, counters, courses, enrollments, users
from filebridge.sql import reading

REVISION = "completion_revision"
STATUSES = ("completed", "passed", "failed")
# What counts as done for an assignment: a failed attempt leaves it open (and overdue).
DONE = ("completed", "passed")
_VALUES = ("status", "completed_at", "score", "time_spent_minutes")


@dataclass(frozen=True)
class CompletionInput:
    """One course result to record; ``user_id`` is the store's id of the person, or
    ``(connection, employee id)`` for a person of an external target's mirror."""

    user_id: int | tuple[str, str]
    course_code: str
    course_title: str
    status: str
    completed_at: datetime
    score: float | None = None
    time_spent_minutes: int | None = None
    attempt: int = 1


@dataclass(frozen=True)
class AssignmentInput:
    """One assignment (enrollment) of a person to a course, with an optional due date."""

    user_id: int
    course_code: str
    course_title: str
    due_at: datetime | None


def migrate_completion_revisions(conn: Connection) -> None:
    """Migration 0002: revision and attempt on completions, the counters table (idempotent)."""
    inspector = sa.inspect(conn)
    have = {c["name"] for c in inspector.get_columns("completions")}
    # Constant DDL (no data): ADD COLUMN with a default is portable to SQLite and PostgreSQL.
    if "revision" not in have:
        conn.exec_driver_sql("ALTER TABLE completions ADD COLUMN revision BIGINT NOT NULL "
                             "DEFAULT 0")
    if "attempt" not in have:
        conn.exec_driver_sql("ALTER TABLE completions ADD COLUMN attempt INTEGER NOT NULL "
                             "DEFAULT 1")
    counters.create(conn, checkfirst=True)
    # Rows written before 0002 get distinct attempts and revisions in id order.
    other = completions.alias("other")
    earlier = (sa.select(sa.func.count()).select_from(other)
               .where(other.c.user_id == completions.c.user_id,
                      other.c.course_id == completions.c.course_id,
                      other.c.id <= completions.c.id).scalar_subquery())
    conn.execute(completions.update().values(attempt=earlier))
    conn.execute(completions.update().where(completions.c.revision == 0)
                 .values(revision=completions.c.id))
    # Plain DDL, not sa.Index(...): an Index built on the shared Table object would attach
    # itself to it, and every later create_all in this process would create it twice.
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_completions_revision "
                         "ON completions (revision)")
    conn.exec_driver_sql("CREATE UNIQUE INDEX IF NOT EXISTS uq_completions_attempt "
                         "ON completions (user_id, course_id, attempt)")
    top = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(completions.c.id), 0)))
    if conn.scalar(sa.select(counters.c.value).where(counters.c.name == REVISION)) is None:
        conn.execute(counters.insert().values(name=REVISION, value=int(top or 0)))


def next_revision(tx: Connection) -> int:
    """Take the next completion revision inside ``tx`` (held until commit: no reordering)."""
    found = tx.execute(counters.update().where(counters.c.name == REVISION)
                       .values(value=counters.c.value + 1).returning(counters.c.value)).scalar()
    if found is None:
        tx.execute(counters.insert().values(name=REVISION, value=1))
        return 1
    return int(found)


def people_by_employee_id(conn: Connection, connection: str | None,
                          employee_ids: Iterable[str]) -> dict[str, list[int]]:
    """Store ids of the people with these employee ids (of one connection, or of any)."""
    ids = sorted(set(employee_ids))
    out: dict[str, list[int]] = {i: [] for i in ids}
    for start in range(0, len(ids), 900):
        stmt = sa.select(users.c.employee_id, users.c.id).where(
            users.c.employee_id.in_(ids[start:start + 900]))
        if connection is not None:
            stmt = stmt.where(users.c.managed_by == connection)
        for employee_id, user_id in conn.execute(stmt.order_by(users.c.id)):
            out[employee_id].append(int(user_id))
    return out


def _course_id(tx: Connection, code: str, title: str, known: dict[str, int]) -> int:
    if code in known:
        return known[code]
    row = tx.execute(sa.select(courses.c.id, courses.c.title).where(courses.c.code == code)).first()
    if row is None:
        course_id = int(tx.scalar(courses.insert().values(code=code, title=title)
                                  .returning(courses.c.id)))
    else:
        course_id = int(row.id)
        if title and title != row.title:
            tx.execute(courses.update().where(courses.c.id == course_id).values(title=title))
    known[code] = course_id
    return course_id


def _same(row: Any, item: CompletionInput) -> bool:
    stored = (row.status, _utc(row.completed_at), row.score, row.time_spent_minutes)
    given = (item.status, _utc(item.completed_at), item.score, item.time_spent_minutes)
    return stored == given


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the store writes is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def record_completions(tx: Connection, items: Sequence[CompletionInput],
                       now: datetime) -> dict[str, int]:
    """Insert new results, correct changed ones (new revision), skip identical ones.

    A result is identified by person, course and attempt; loading the same file twice
    changes nothing. Returns ``inserted``, ``corrected``, ``unchanged`` counts.
    """
    counts = {"inserted": 0, "corrected": 0, "unchanged": 0}
    known: dict[str, int] = {}
    for item in items:
        assert isinstance(item.user_id, int)
        course_id = _course_id(tx, item.course_code, item.course_title, known)
        key = (completions.c.user_id == item.user_id, completions.c.course_id == course_id,
               completions.c.attempt == item.attempt)
        row = tx.execute(sa.select(completions.c.id, *(completions.c[v] for v in _VALUES))
                         .where(*key)).first()
        values = {"status": item.status, "completed_at": item.completed_at,
                  "score": item.score, "time_spent_minutes": item.time_spent_minutes,
                  "recorded_at": now}
        if row is None:
            tx.execute(completions.insert().values(user_id=item.user_id, course_id=course_id,
                                                   attempt=item.attempt,
                                                   revision=next_revision(tx), **values))
            counts["inserted"] += 1
        elif _same(row, item):
            counts["unchanged"] += 1
        else:
            tx.execute(completions.update().where(completions.c.id == row.id)
                       .values(revision=next_revision(tx), **values))
            counts["corrected"] += 1
    return counts


def record_assignments(tx: Connection, items: Sequence[AssignmentInput],
                       now: datetime) -> dict[str, int]:
    """Create assignments or update their due date; returns ``assigned``, ``updated``."""
    counts = {"assigned": 0, "updated": 0}
    known: dict[str, int] = {}
    for item in items:
        course_id = _course_id(tx, item.course_code, item.course_title, known)
        where = (enrollments.c.user_id == item.user_id, enrollments.c.course_id == course_id)
        row = tx.execute(sa.select(enrollments.c.id, enrollments.c.due_at).where(*where)).first()
        if row is None:
            tx.execute(enrollments.insert().values(user_id=item.user_id, course_id=course_id,
                                                   assigned_at=now, due_at=item.due_at))
            counts["assigned"] += 1
        elif (row.due_at and _utc(row.due_at)) != item.due_at:
            tx.execute(enrollments.update().where(enrollments.c.id == row.id)
                       .values(due_at=item.due_at))
            counts["updated"] += 1
    return counts


EXPORT_COLUMNS = ("completion_id", "revision", "attempt", "employee_id", "email", "first_name",
            "last_name", "department_code", "course_code", "course_title", "status",
            "completed_at", "score", "time_spent_minutes", "recorded_at")


def completions_for_export(engine: Engine, connection: str, *, after_revision: int | None = None,
                           completed_from: datetime | None = None,
                           completed_until: datetime | None = None) -> pd.DataFrame:
    """Results of ``connection``'s people, oldest revision first, with person and course.

    Either everything after a revision (the incremental export) or completed within
    ``[completed_from, completed_until)`` (an on-demand re-export).
    """
    c = completions
    stmt = (sa.select(c.c.id, c.c.revision, c.c.attempt, users.c.employee_id, users.c.email,
                      users.c.first_name, users.c.last_name, users.c.department_code,
                      courses.c.code, courses.c.title, c.c.status, c.c.completed_at, c.c.score,
                      c.c.time_spent_minutes, c.c.recorded_at)
            .join_from(c, users).join(courses)
            .where(users.c.managed_by == connection).order_by(c.c.revision, c.c.id))
    if after_revision is not None:
        stmt = stmt.where(c.c.revision > after_revision)
    if completed_from is not None:
        stmt = stmt.where(c.c.completed_at >= completed_from)
    if completed_until is not None:
        stmt = stmt.where(c.c.completed_at < completed_until)
    with reading(engine) as conn:
        rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(EXPORT_COLUMNS))
    for name in ("completed_at", "recorded_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def overdue_assignments(engine: Engine, connection: str, now: datetime, *,
                        due_from: datetime | None = None) -> pd.DataFrame:
    """Assignments of ``connection``'s people past due at ``now`` and not completed or passed."""
    done = (sa.select(completions.c.id)
            .where(completions.c.user_id == enrollments.c.user_id,
                   completions.c.course_id == enrollments.c.course_id,
                   completions.c.status.in_(DONE)).exists())
    stmt = (sa.select(enrollments.c.id, users.c.employee_id, users.c.email, users.c.first_name,
                      users.c.last_name, users.c.department_code, courses.c.code,
                      courses.c.title, enrollments.c.due_at, enrollments.c.assigned_at)
            .join_from(enrollments, users).join(courses)
            .where(users.c.managed_by == connection, enrollments.c.due_at.is_not(None),
                   enrollments.c.due_at < now, ~done)
            .order_by(enrollments.c.due_at, enrollments.c.id))
    if due_from is not None:
        stmt = stmt.where(enrollments.c.due_at >= due_from)
    with reading(engine) as conn:
        rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows],
                         columns=["enrollment_id", "employee_id", "email", "first_name",
                                  "last_name", "department_code", "course_code", "course_title",
                                  "due_at", "assigned_at"])
    for name in ("due_at", "assigned_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
