"""Groups in the built-in store: reading a connection's memberships, writing a plan's.

A group belongs to the connection that made it (``groups.managed_by``); a membership
records the connection whose rules made it (``group_members.added_by``) or NULL when
someone added it by hand. A run only removes memberships its connection made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.schema import group_members, groups, users
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.plan.state import MEMBERSHIP_COLUMNS
from filebridge.sql import execute_many, fetch_batches, reading

# Memberships turned into columns at a time when reading a connection's groups.
BATCH = 200_000


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in
                         zip(MEMBERSHIP_COLUMNS, ("str", "str", "bool"), strict=True)})


# Joins a group's member ids in SQLite's group_concat; the readers reject every row
# holding this control character, so no employee id from a file contains it (a store
# where one does anyway is read row by row instead).
_UNIT = "\x1f"


def memberships(engine: Engine, connection: str) -> pd.DataFrame:
    """Members of ``connection``'s groups who are its people (``MEMBERSHIP_COLUMNS``)."""
    with reading(engine) as conn:
        owned = dict(conn.execute(sa.select(groups.c.id, groups.c.name)
                                  .where(groups.c.managed_by == connection)).all())
        if not owned:
            return _empty()
        joined = _sqlite_joined(conn, connection, owned) \
            if conn.dialect.name == "sqlite" else None
        return joined if joined is not None else _rows(conn, connection, owned)


def _sqlite_joined(conn: Connection, connection: str, owned: dict[int, str]
                   ) -> pd.DataFrame | None:
    """One joined text value per group and maker, split by Arrow: a million members
    cost one C-level pass, not a million Python tuples (None when it cannot be)."""
    parts = conn.execute(sa.text(
        "SELECT m.group_id, m.added_by = :c, count(*), max(instr(u.employee_id, char(31))), "
        "group_concat(u.employee_id, char(31)) FROM group_members m "
        "JOIN users u ON u.id = m.user_id JOIN groups g ON g.id = m.group_id "
        "WHERE g.managed_by = :c AND u.managed_by = :c GROUP BY m.group_id, m.added_by = :c"),
        {"c": connection}).all()
    if any(bad for _, _, _, bad, _ in parts):
        return None
    if not parts:
        return _empty()
    counts = np.array([n for _, _, n, _, _ in parts], dtype=np.int64)
    ids = pc.split_pattern(pa.array([t for *_, t in parts], pa.large_string()),
                           _UNIT).flatten()
    if len(ids) != counts.sum():
        return None  # cannot happen with the guard above; never guess if it does
    names = np.array([owned[g] for g, *_ in parts], dtype=object)
    return pd.DataFrame({
        "group": pd.Series(np.repeat(names, counts), dtype="str"),
        KEY: pd.Series(ids, dtype="str"),
        "ours": np.repeat(np.array([bool(o) for _, o, *_ in parts]), counts)})


def _rows(conn: Connection, connection: str, owned: dict[int, str]) -> pd.DataFrame:
    """The memberships from the driver's rows, batch by batch (any database)."""
    stmt = (sa.select(group_members.c.group_id, users.c.employee_id,
                      group_members.c.added_by == connection)
            .join_from(group_members, users, group_members.c.user_id == users.c.id)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(groups.c.managed_by == connection, users.c.managed_by == connection))
    gids: list[np.ndarray] = []
    ids: list[pa.Array] = []
    ours: list[np.ndarray] = []
    for batch in fetch_batches(conn, stmt, BATCH):
        g, i, o = zip(*batch, strict=True)
        gids.append(np.fromiter(g, dtype=np.int64, count=len(g)))
        ids.append(pa.array(i, pa.large_string()))
        ours.append(np.fromiter((bool(x) for x in o), dtype=bool, count=len(o)))
    if not gids:
        return _empty()
    codes = np.concatenate(gids)
    known = np.array(sorted(owned), dtype=np.int64)
    names = np.array([owned[k] for k in known], dtype=object)
    return pd.DataFrame({
        "group": pd.Series(names[np.searchsorted(known, codes)], dtype="str"),
        KEY: pd.Series(pa.chunked_array(ids, pa.large_string()), dtype="str"),
        "ours": np.concatenate(ours)})


def group_table(engine: Engine, connection: str | None) -> pd.DataFrame:
    """Every group (of one connection, or all) with its member counts: ``connection``,
    ``group``, ``members``, ``by_rule`` (made by the connection's rules), ``by_hand``."""
    ours = sa.func.sum(sa.case((group_members.c.added_by == groups.c.managed_by, 1), else_=0))
    stmt = (sa.select(groups.c.managed_by, groups.c.name,
                      sa.func.count(group_members.c.user_id), ours)
            .join_from(groups, group_members, group_members.c.group_id == groups.c.id,
                       isouter=True)
            .group_by(groups.c.id, groups.c.managed_by, groups.c.name)
            .order_by(groups.c.managed_by, groups.c.name))
    if connection is not None:
        stmt = stmt.where(groups.c.managed_by == connection)
    with reading(engine) as conn:
        rows = [(c or "", n, int(m), int(o or 0), int(m) - int(o or 0))
                for c, n, m, o in conn.execute(stmt)]
    return pd.DataFrame(rows, columns=["connection", "group", "members", "by_rule", "by_hand"])


def group_members_of(engine: Engine, connection: str, name: str) -> pd.DataFrame | None:
    """The members of ``connection``'s group ``name`` (None: no such group):
    ``employee_id``, ``managed_by``, ``by_rule``, ``added_at``."""
    with reading(engine) as conn:
        gid = conn.execute(sa.select(groups.c.id).where(
            groups.c.managed_by == connection, groups.c.name == name)).scalar_one_or_none()
        if gid is None:
            return None
        rows = conn.execute(
            sa.select(users.c.employee_id, users.c.managed_by,
                      group_members.c.added_by == connection, group_members.c.added_at)
            .join_from(group_members, users, group_members.c.user_id == users.c.id)
            .where(group_members.c.group_id == gid)
            .order_by(users.c.employee_id)).all()
    return pd.DataFrame([(e, m or "", bool(o), a) for e, m, o, a in rows],
                        columns=[KEY, "managed_by", "by_rule", "added_at"])


def write_groups(tx: Connection, plan: Plan, now: datetime) -> dict[str, int]:
    """Write the plan's group changes inside ``tx``; returns ``groups_created``,
    ``group_add`` and ``group_remove`` (memberships actually written)."""
    c = plan.connection
    changes = plan.groups
    adds = changes.loc[changes["action"] == "add"]
    removes = changes.loc[changes["action"] == "remove"]
    owned = dict(tx.execute(sa.select(groups.c.name, groups.c.id)
                            .where(groups.c.managed_by == c)).all())
    missing = sorted(set(adds["group"].astype(str)) - set(owned))
    created = execute_many(tx, groups.insert(), {"name": missing},
                           {"managed_by": c, "created_at": now}) if missing else 0
    if missing:
        owned = dict(tx.execute(sa.select(groups.c.name, groups.c.id)
                                .where(groups.c.managed_by == c)).all())
    user = (users.c.managed_by == sa.bindparam("p_c")) & \
        (users.c.employee_id == sa.bindparam("p_e"))
    taken = sa.exists().where(group_members.c.group_id == sa.bindparam("p_g"),
                              group_members.c.user_id == users.c.id)
    insert = group_members.insert().from_select(
        ["group_id", "user_id", "added_by", "added_at"],
        sa.select(sa.bindparam("p_g", type_=sa.Integer), users.c.id,
                  sa.bindparam("p_c2", type_=sa.String), sa.bindparam("p_at", type_=sa.DateTime(
                      timezone=True))).where(user, ~taken))
    added = execute_many(tx, insert, {"p_g": _ids(adds, owned), "p_e": _texts(adds[KEY])},
                         {"p_c": c, "p_c2": c, "p_at": now}) if len(adds) else 0
    delete = sa.delete(group_members).where(
        group_members.c.group_id == sa.bindparam("p_g"),
        group_members.c.added_by == sa.bindparam("p_c"),
        group_members.c.user_id == sa.select(users.c.id).where(user).scalar_subquery())
    removes = removes.loc[removes["group"].isin(list(owned))]
    removed = execute_many(tx, delete, {"p_g": _ids(removes, owned),
                                        "p_e": _texts(removes[KEY])},
                           {"p_c": c}) if len(removes) else 0
    # Some drivers cannot count an executemany (-1): then the plan's numbers stand.
    return {"groups_created": created, "group_add": added if added >= 0 else len(adds),
            "group_remove": removed if removed >= 0 else len(removes)}


def _ids(frame: pd.DataFrame, owned: dict[str, Any]) -> list[int]:
    return [int(owned[g]) for g in frame["group"].astype(str)]


def _texts(series: pd.Series) -> list[str]:
    return series.astype(str).tolist()
