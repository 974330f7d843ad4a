"""Groups in the built-in store: reading a connection's memberships, writing a plan's.

A group belongs to the connection that made it (``groups.managed_by``); a membership
records the connection whose rules made it (``group_members.added_by``) or NULL when
someone added it by hand. A run only removes memberships its connection made.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.group_drift import clear_group_drift
from filebridge.lms.schema import changes, group_members, groups, users
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.plan.state import MEMBERSHIP_COLUMNS
from filebridge.sql import execute_many, fetch_batches, fetch_raw, reading

# Memberships turned into columns at a time when reading a connection's groups.
BATCH = 200_000


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in
                         zip(MEMBERSHIP_COLUMNS, ("str", "str", "bool"), strict=True)})


# Joins a group's member ids in SQLite's group_concat; the readers reject every row
# holding this control character, so no employee id from a file contains it (a store
# where one does anyway is read row by row instead).
_UNIT = "\x1f"


# Employee ids looked up per statement when reading some people's memberships.
PEOPLE_CHUNK = 500


def memberships(engine: Engine, connection: str, people: Sequence[str] | None = None,
                other_than: Collection[str] | None = None) -> pd.DataFrame:
    """Members of ``connection``'s groups who are its people (``MEMBERSHIP_COLUMNS``);
    with ``people``, only theirs plus every member of a group not named in
    ``other_than`` (see ``ActualState.memberships``)."""
    with reading(engine) as conn:
        owned = dict(conn.execute(sa.select(groups.c.id, groups.c.name)
                                  .where(groups.c.managed_by == connection)).all())
        if not owned:
            return _empty()
        if people is not None:
            return _some(conn, connection, owned, people, other_than)
        joined = _sqlite_joined(conn, connection, owned) \
            if conn.dialect.name == "sqlite" else None
        return joined if joined is not None else _rows(conn, connection, owned)


def owned_membership_count(engine: Engine, connection: str) -> int:
    """How many memberships ``connection``'s rules made among its people, in its groups:
    the base the group brake measures removals against."""
    stmt = (sa.select(sa.func.count())
            .select_from(group_members)
            .join(groups, groups.c.id == group_members.c.group_id)
            .join(users, users.c.id == group_members.c.user_id)
            .where(groups.c.managed_by == connection, users.c.managed_by == connection,
                   group_members.c.added_by == connection))
    with reading(engine) as conn:
        return int(conn.scalar(stmt) or 0)


def _some(conn: Connection, connection: str, owned: dict[int, str], people: Sequence[str],
          other_than: Collection[str] | None) -> pd.DataFrame:
    """The memberships of a few people (by the users' unique key, chunk by chunk) and of
    the owned groups no rule names any more."""
    base = (sa.select(group_members.c.group_id, users.c.employee_id,
                      group_members.c.added_by == connection)
            .join_from(group_members, users, group_members.c.user_id == users.c.id)
            .where(users.c.managed_by == connection))
    rows: list[Any] = []
    for start in range(0, len(people), PEOPLE_CHUNK):
        chunk = list(people[start:start + PEOPLE_CHUNK])
        # Each person's memberships come by the user_id index (one range per person) and
        # are kept to the owned groups here: with the owned group ids in the SQL, SQLite
        # probes the primary key once per (owned group, person) instead.
        rows += [r for r in fetch_raw(conn, base.where(users.c.employee_id.in_(chunk)))
                 if r[0] in owned]
    orphans = sorted(g for g, name in owned.items()
                     if other_than is not None and name not in other_than)
    if orphans:
        seen = {(g, e) for g, e, _ in rows}
        rows += [r for r in conn.execute(base.where(group_members.c.group_id.in_(orphans)))
                 if (r[0], r[1]) not in seen]
    return pd.DataFrame({
        "group": pd.Series([owned[g] for g, _, _ in rows], dtype="str"),
        KEY: pd.Series([str(e) for _, e, _ in rows], dtype="str"),
        "ours": np.array([bool(o) for _, _, o in rows], dtype=bool)})


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


def write_groups(tx: Connection, plan: Plan, now: datetime, run_id: int | None = None
                 ) -> dict[str, int]:
    """Write the plan's group changes inside ``tx``, each journaled for ``undo`` and the
    person's timeline; returns ``groups_created``, ``group_add`` and ``group_remove``
    (memberships actually written)."""
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
    _journal(tx, c, adds, removes, run_id, now)
    _store_fingerprints(tx, plan)
    # Some drivers cannot count an executemany (-1): then the plan's numbers stand.
    return {"groups_created": created, "group_add": added if added >= 0 else len(adds),
            "group_remove": removed if removed >= 0 else len(removes)}


def _journal(tx: Connection, connection: str, adds: pd.DataFrame, removes: pd.DataFrame,
             run_id: int | None, now: datetime) -> None:
    """One ``changes`` row per membership added or removed (field ``group``)."""
    if not len(adds) and not len(removes):
        return
    names = [*_texts(adds["group"]), *_texts(removes["group"])]
    adding = [True] * len(adds) + [False] * len(removes)
    lines = [None if pd.isna(v) else int(v) for v in
             [*adds["line"].tolist(), *removes["line"].tolist()]]
    execute_many(tx, changes.insert(), {
        "employee_id": [*_texts(adds[KEY]), *_texts(removes[KEY])],
        "action": ["group_add" if a else "group_remove" for a in adding],
        "old": [None if a else n for a, n in zip(adding, names, strict=True)],
        "new": [n if a else None for a, n in zip(adding, names, strict=True)],
        "line": lines}, {"run_id": run_id, "connection": connection, "field": "group",
                         "at": now})


def _store_fingerprints(tx: Connection, plan: Plan) -> None:
    """Store the group fingerprint of everyone the plan compared and forget their
    membership drift marks: the plan accounted for both."""
    frame = plan.group_fingerprints
    if not len(frame):
        return
    update = users.update().where(
        users.c.managed_by == sa.bindparam("p_c"),
        users.c.employee_id == sa.bindparam("p_e")).values(
        group_fingerprint=sa.bindparam("p_fp", type_=sa.BigInteger))
    ids = _texts(frame[KEY])
    execute_many(tx, update, {"p_e": ids, "p_fp": [
        int(v) for v in frame["group_fingerprint"].to_numpy(dtype=np.int64)]},
        {"p_c": plan.connection})
    clear_group_drift(tx, plan.connection, ids)


def forget_fingerprints(tx: Connection, connection: str, employee_ids: Sequence[str]) -> None:
    """Set these people's group fingerprint to 0 (unknown): a write that changed who
    they are or whether they are active without planning groups (an undo) leaves their
    memberships to be compared by the next run."""
    if not len(employee_ids):
        return
    execute_many(tx, users.update().where(
        users.c.managed_by == sa.bindparam("p_c"),
        users.c.employee_id == sa.bindparam("p_e")).values(group_fingerprint=0),
        {"p_e": list(employee_ids)}, {"p_c": connection})


def _ids(frame: pd.DataFrame, owned: dict[str, Any]) -> list[int]:
    return [int(owned[g]) for g in frame["group"].astype(str)]


def _texts(series: pd.Series) -> list[str]:
    return series.astype(str).tolist()
