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
from filebridge.lms.search_keys import fragment_ids, search_key, unkeyed_ids
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
    a current or former e-mail (as typed or lower-cased, as the mapping stores them), else
    the start of the first or last name or of "first last", else a part of the name of at
    least three characters (up to ``limit``). Names are compared case-folded (``search_key``:
    "ÖBERG" finds "Öberg", "STRAUSS" finds "Strauß"). Every lookup is indexed."""
    text = query.strip()
    if "@" in text:
        return _by_email(engine, connection, text, limit)
    with reading(engine) as conn:
        ids = [r[0] for r in conn.execute(sa.select(users.c.employee_id).where(
            users.c.managed_by == connection, users.c.employee_id == text))]
        if ids:
            return ids
        if conn.scalar(sa.select(changes.c.id).where(
                changes.c.connection == connection, changes.c.employee_id == text).limit(1)):
            return [text]
        key = search_key(text)
        if not key:
            return []
        ids = _by_name_start(conn, connection, key, limit)
        ids = ids or fragment_ids(conn, _of(connection), key, limit)
        # People renamed since the last apply have no key yet: read them as they are.
        extra = unkeyed_ids(conn, _of(connection), key, limit)
        return sorted(set(ids) | set(extra))[:limit]


def _by_email(engine: Engine, connection: str, text: str, limit: int) -> list[str]:
    typed = list({text, text.lower()})
    with reading(engine) as conn:
        ids = [r[0] for r in conn.execute(sa.select(users.c.employee_id).where(
            _of(connection), users.c.email.in_(typed)))]
        if ids:
            return ids
        # The literal 'email' (not a bound value) lets SQLite use the partial index; no
        # DISTINCT, which would make SQLite walk the connection's whole journal instead.
        found = conn.execute(sa.select(changes.c.employee_id).where(
            changes.c.connection == connection,
            changes.c.field == sa.literal_column("'email'"),
            changes.c.old.in_(typed)).limit(limit * 10))
        return list(dict.fromkeys(r[0] for r in found))[:limit]


# Above every character: "abc" <= s < "abc" + TOP holds for each s starting with "abc".
TOP = "\U0010ffff"


def _of(connection: str) -> sa.ColumnElement[bool]:
    """``managed_by = connection`` written so no index is chosen for it: without statistics
    SQLite takes any index on ``managed_by`` over the far more selective one the lookup
    needs (e-mail, name); PostgreSQL plans from its statistics either way."""
    return (users.c.managed_by + sa.literal("")) == connection


def _bytes(conn: sa.Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` compared in byte order (SQLite's own; PostgreSQL's "C" collation), as the
    key indexes hold it, so a prefix is a range."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _starting(conn: sa.Connection, column: sa.ColumnElement[Any], prefix: str
              ) -> sa.ColumnElement[bool]:
    ordered = _bytes(conn, column)
    return sa.and_(ordered >= prefix, ordered < prefix + TOP)


def _by_name_start(conn: sa.Connection, connection: str, key: str, limit: int) -> list[str]:
    """The first name, "first last-prefix" (both the start of ``name_key``) or the last
    name starting with ``key``."""
    found: set[str] = set()
    for column in (users.c.name_key, users.c.last_key):
        found.update(r[0] for r in conn.execute(
            sa.select(users.c.employee_id).where(_of(connection),
                                                 _starting(conn, column, key)).limit(limit)))
    return sorted(found)[:limit]


def names_of(engine: Engine, connection: str, ids: list[str]) -> pd.DataFrame:
    """``employee_id, first_name, last_name, email, active`` of these people."""
    stmt = (sa.select(users.c.employee_id, users.c.first_name, users.c.last_name,
                      users.c.email, users.c.active)
            .where(users.c.managed_by == connection, users.c.employee_id.in_(ids))
            .order_by(users.c.employee_id))
    with reading(engine) as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


NEAR_PREFIX = 3  # near matches share this many first characters with a word of the query
NEAR_LIMIT = 2000  # people read per indexed column for near matches


def directory(engine: Engine, connection: str, near: str | None = None) -> pd.DataFrame:
    """``employee_id, email, first_name, last_name`` of ``connection`` (for suggestions):
    everyone, or with ``near`` those whose id, e-mail, first or last name starts like a
    word of it (through the indexes, so a million people cost a few thousand rows)."""
    columns = (users.c.employee_id, users.c.email, users.c.first_name, users.c.last_name)
    mine = users.c.managed_by == connection
    with reading(engine) as conn:
        if near is None:
            result = conn.execute(sa.select(*columns).where(mine))
            return pd.DataFrame(result.all(), columns=list(result.keys()))
        rows: dict[str, tuple[Any, ...]] = {}
        for word in {w[:NEAR_PREFIX] for w in near.strip().split()[:3]}:
            low, key = word.lower(), search_key(word)
            for column, prefix in ((users.c.employee_id, word), (users.c.email, low),
                                   (users.c.name_key, key), (users.c.last_key, key)):
                found = conn.execute(sa.select(*columns).where(
                    _of(connection), _starting(conn, column, prefix)).limit(NEAR_LIMIT))
                rows.update((r[0], tuple(r)) for r in found)
        return pd.DataFrame(list(rows.values()),
                            columns=["employee_id", "email", "first_name", "last_name"])


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
