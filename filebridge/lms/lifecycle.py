"""Identity lifecycle in the built-in store: lookups by email, re-keyed rehires, deletes,
and adopting existing LMS users into a connection (``filebridge link``).

Functions take the caller's transaction for writes (the apply commits them together
with the ledger's applied mark) and an engine for reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.schema import (
    PERSON_FIELDS,
    changes,
    completions,
    enrollments,
    group_members,
    user_attributes,
    users,
)
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.sql import execute_many, fetch_raw, reading

CHUNK = 900  # bound parameters per IN list (old SQLite builds allow 999)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def holders_of_emails(engine: Engine, emails: Sequence[str]) -> pd.DataFrame:
    """Every account using one of ``emails``: ``email, managed_by, employee_id, active``."""
    rows: list[tuple[Any, ...]] = []
    with reading(engine) as conn:
        # An empty store holds no address: the first import neither asks nor builds the
        # sorted set of a million addresses (about a hundred megabytes of Python strings).
        stored = conn.scalar(sa.select(sa.func.count()).select_from(users))
        wanted = sorted(set(emails) - {""}) if stored else []
        for part in _chunks(wanted):
            rows += fetch_raw(conn, sa.select(users.c.email, users.c.managed_by,
                                              users.c.employee_id, users.c.active)
                              .where(users.c.email.in_(part)))
    frame = pd.DataFrame(rows, columns=["email", "managed_by", KEY, "active"], dtype=object)
    frame["active"] = frame["active"].astype(bool)
    return frame


def manager_ids_by_email(engine: Engine, connection: str, emails: Sequence[str]
                         ) -> dict[str, str]:
    """The employee id each work email names, when it names one person unambiguously.

    A person of ``connection`` wins over other connections' and unmanaged accounts, an
    active account over a deactivated one; two different people at the best rank leave
    the address unresolved (the row is then rejected, never guessed).
    """
    found = holders_of_emails(engine, emails)
    if found.empty:
        return {}
    found["rank"] = (found["managed_by"] != connection).astype(int) * 2 \
        + (~found["active"]).astype(int)
    best = found.loc[found["rank"] == found.groupby("email")["rank"].transform("min")]
    ids = best.groupby("email")[KEY].agg(lambda s: sorted(set(s)))
    return {str(email): str(people[0]) for email, people in ids.items() if len(people) == 1}


def inactive_since(engine: Engine, connection: str, cutoff: datetime) -> frozenset[str]:
    """Ids of ``connection``'s people deactivated at or before ``cutoff``."""
    stmt = sa.select(users.c.employee_id).where(
        users.c.managed_by == connection, users.c.active == sa.false(),
        users.c.deactivated_at <= cutoff)
    with reading(engine) as conn:
        return frozenset(r[0] for r in fetch_raw(conn, stmt))


def apply_rekeys(tx: Connection, plan: Plan, run_id: int | None, now: datetime) -> int:
    """Give returning people their new employee id (before any other change of the plan)."""
    frame = plan.rekeys
    if not len(frame):
        return 0
    new, old = frame[KEY].astype(str).tolist(), frame["old_employee_id"].astype(str).tolist()
    stmt = (sa.update(users).where(users.c.managed_by == sa.bindparam("p_c"),
                                   users.c.employee_id == sa.bindparam("p_old"))
            .values(employee_id=sa.bindparam("p_new"), updated_at=sa.bindparam("p_now")))
    execute_many(tx, stmt, {"p_old": old, "p_new": new}, {"p_c": plan.connection, "p_now": now})
    execute_many(tx, changes.insert(), {"employee_id": new, "old": old, "new": new},
                 {"run_id": run_id, "connection": plan.connection, "action": "update",
                  "field": KEY, "at": now})
    return len(new)


def apply_deletes(tx: Connection, plan: Plan, run_id: int | None, now: datetime) -> int:
    """Delete leavers (policy ``leavers: delete``), their attributes and learning records.

    The journal keeps each person's last values (JSON in ``old``) so the change is on
    record; undo refuses deletes because the learning history cannot come back.
    """
    ids = plan.deletes[KEY].astype(str).tolist() if len(plan.deletes) else []
    if not ids:
        return 0
    c = plan.connection
    last: list[str] = []
    for part in _chunks(ids):
        rows = tx.execute(sa.select(users.c.employee_id, *(users.c[f] for f in PERSON_FIELDS))
                          .where(users.c.managed_by == c, users.c.employee_id.in_(part)))
        last += [json.dumps(dict(r._mapping), ensure_ascii=False) for r in rows]
    by_id = {json.loads(v)[KEY]: v for v in last}
    user_ids = sa.select(users.c.id).where(users.c.managed_by == c,
                                           users.c.employee_id.in_(sa.bindparam("p_ids",
                                                                                expanding=True)))
    for part in _chunks(ids):
        for table in (completions, enrollments, user_attributes, group_members):
            tx.execute(sa.delete(table).where(table.c.user_id.in_(user_ids)),
                       {"p_ids": list(part)})
        tx.execute(sa.delete(users).where(users.c.managed_by == c, users.c.employee_id.in_(part)))
    execute_many(tx, changes.insert(), {"employee_id": ids,
                                        "old": [by_id.get(i, "") for i in ids]},
                 {"run_id": run_id, "connection": c, "action": "delete", "at": now})
    return len(ids)


def adoption_candidates(engine: Engine, connection: str, people: pd.DataFrame,
                        by: str) -> pd.DataFrame:
    """Unmanaged LMS users matching the file's people on ``by`` (``email`` or ``employee_id``).

    Returns ``user_id, lms_employee_id, email, employee_id, line, note``; ``note`` is
    blank for an adoptable match, else why it is not adopted.
    """
    values = sorted(set(people[by]) - {""})
    rows: list[tuple[Any, ...]] = []
    column = users.c[by]
    with reading(engine) as conn:
        for part in _chunks(values):
            rows += fetch_raw(conn, sa.select(users.c.id, users.c.employee_id, users.c.email)
                              .where(users.c.managed_by.is_(None), column.in_(part)))
        taken = set()
        ids = sorted(set(people[KEY]))
        for part in _chunks(ids):
            taken |= {r[0] for r in fetch_raw(conn, sa.select(users.c.employee_id).where(
                users.c.managed_by == connection, users.c.employee_id.in_(part)))}
    found = pd.DataFrame(rows, columns=["user_id", "lms_employee_id", "email_lms"], dtype=object)
    key = "lms_employee_id" if by == KEY else "email_lms"
    pairs = people[[KEY, "email", "line"]].merge(found, left_on=by, right_on=key)
    pairs["note"] = ""
    pairs.loc[pairs.duplicated(by, keep=False), "note"] = f"several LMS users share this {by}"
    pairs.loc[pairs[KEY].isin(taken), "note"] = "the connection already manages this employee id"
    return pairs[["user_id", "lms_employee_id", "email", KEY, "line", "note"]].reset_index(
        drop=True)


def adopt(tx: Connection, connection: str, pairs: pd.DataFrame, run_id: int | None,
          now: datetime) -> int:
    """Make these users managed by ``connection`` under the file's employee ids.

    Their fingerprint is reset so the next import compares every field.
    """
    ok = pairs.loc[pairs["note"] == ""]
    if ok.empty:
        return 0
    stmt = (sa.update(users).where(users.c.id == sa.bindparam("p_id"),
                                   users.c.managed_by.is_(None))
            .values(managed_by=connection, employee_id=sa.bindparam("p_eid"), fingerprint=0,
                    updated_at=sa.bindparam("p_now")))
    done = execute_many(tx, stmt, {"p_id": ok["user_id"].astype(int).tolist(),
                                   "p_eid": ok[KEY].astype(str).tolist()}, {"p_now": now})
    execute_many(tx, changes.insert(), {
        "employee_id": ok[KEY].astype(str).tolist(),
        "old": ok["lms_employee_id"].astype(str).tolist()},
        {"run_id": run_id, "connection": connection, "action": "adopt", "field": "managed_by",
         "new": connection, "at": now})
    return done
