"""Reading one person of the built-in store: lookup by id, e-mail or name, and their journal.

Every read is limited to one connection; the journal is read through its
``(connection, employee_id)`` index, so one person's history costs a few rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms.schema import PERSON_FIELDS, changes, users
from filebridge.person import KEY
from filebridge.sql import reading

JOURNAL_COLUMNS = ("id", "run_id", "employee_id", "action", "field", "old", "new", "line",
                   "reason", "at")


def person_row(engine: Engine, connection: str, employee_id: str) -> dict[str, Any] | None:
    """The person's current fields, ``active`` and dates, or None when the store has none."""
    stmt = (sa.select(users.c.employee_id, *(users.c[f] for f in PERSON_FIELDS),
                      users.c.active, users.c.created_at, users.c.updated_at,
                      users.c.deactivated_at)
            .where(users.c.managed_by == connection, users.c.employee_id == employee_id))
    with reading(engine) as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else None


def find_ids(engine: Engine, connection: str, query: str, limit: int) -> list[str]:
    """Employee ids of ``connection`` that ``query`` names: an id (current or in the journal),
    a current or former e-mail (case-insensitive), else a name fragment (up to ``limit``)."""
    text = query.strip()
    with reading(engine) as conn:
        ids = [r[0] for r in conn.execute(sa.select(users.c.employee_id).where(
            users.c.managed_by == connection, users.c.employee_id == text))]
        if ids:
            return ids
        if conn.scalar(sa.select(changes.c.id).where(
                changes.c.connection == connection, changes.c.employee_id == text).limit(1)):
            return [text]
        if "@" in text:
            lowered = text.lower()
            ids = [r[0] for r in conn.execute(sa.select(users.c.employee_id).where(
                users.c.managed_by == connection,
                sa.or_(users.c.email == text, sa.func.lower(users.c.email) == lowered)))]
            if ids:
                return ids
            return [r[0] for r in conn.execute(
                sa.select(changes.c.employee_id).distinct().where(
                    changes.c.connection == connection, changes.c.field == "email",
                    sa.func.lower(changes.c.old) == lowered).limit(limit))]
        full = users.c.first_name + " " + users.c.last_name
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        return [r[0] for r in conn.execute(
            sa.select(users.c.employee_id).where(
                users.c.managed_by == connection,
                sa.func.lower(full).like(pattern, escape="\\"))
            .order_by(users.c.employee_id).limit(limit))]


def names_of(engine: Engine, connection: str, ids: list[str]) -> pd.DataFrame:
    """``employee_id, first_name, last_name, email, active`` of these people."""
    stmt = (sa.select(users.c.employee_id, users.c.first_name, users.c.last_name,
                      users.c.email, users.c.active)
            .where(users.c.managed_by == connection, users.c.employee_id.in_(ids))
            .order_by(users.c.employee_id))
    with reading(engine) as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def directory(engine: Engine, connection: str) -> pd.DataFrame:
    """Every ``employee_id, email, first_name, last_name`` of ``connection`` (for suggestions)."""
    stmt = (sa.select(users.c.employee_id, users.c.email, users.c.first_name,
                      users.c.last_name).where(users.c.managed_by == connection))
    with reading(engine) as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def journal_of(engine: Engine, connection: str, employee_ids: list[str],
               since: datetime | None = None) -> pd.DataFrame:
    """Journal rows of these people (and the ids they had before a re-key), newest first."""
    ids = list(employee_ids)
    with reading(engine) as conn:
        # A re-key row sits under the new id and names the old one; follow it back.
        for _ in range(5):
            older = [r[0] for r in conn.execute(sa.select(changes.c.old).where(
                changes.c.connection == connection, changes.c.employee_id.in_(ids),
                changes.c.field == KEY, changes.c.old.is_not(None)))]
            fresh = [o for o in older if o and o not in ids]
            if not fresh:
                break
            ids += fresh
        stmt = (sa.select(*(changes.c[c] for c in JOURNAL_COLUMNS))
                .where(changes.c.connection == connection, changes.c.employee_id.in_(ids))
                .order_by(changes.c.id.desc()))
        if since is not None:
            stmt = stmt.where(changes.c.at >= since)
        result = conn.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))
