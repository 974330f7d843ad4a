"""What the plan reads of the built-in store, for one connection (``ActualState``).

Reads are bulk reads straight from the driver's cursor, each in a read-only
transaction that never waits behind a writer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.drift import drift_marks
from filebridge.lms.errors import InvalidFieldName
from filebridge.lms.group_drift import group_drift_marks
from filebridge.lms.groups_sql import memberships
from filebridge.lms.lifecycle import holders_of_emails, inactive_since, manager_ids_by_email
from filebridge.lms.org import org_usage, stored_org
from filebridge.lms.schema import PERSON_FIELDS, user_attributes, users
from filebridge.person import CUSTOM_FIELD, KEY
from filebridge.plan.org import StoredOrg
from filebridge.sql import fetch_batches, fetch_raw, reading

# SQLite allows 999 bound parameters in old builds; stay under it per IN list.
CHUNK = 900
# Rows converted to columns at a time when reading a whole connection's snapshot.
SNAPSHOT_BATCH = 100_000
CUSTOM_PREFIX = "custom."


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """``items`` in slices small enough for one IN list."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def check_fields(fields: Iterable[str]) -> list[str]:
    """The stored fields among ``fields`` (the key left out); unknown names are refused,
    so no SQL is ever built from data."""
    out = []
    for name in fields:
        if name != KEY and name not in PERSON_FIELDS and not CUSTOM_FIELD.match(name):
            raise InvalidFieldName(name)
        if name != KEY:
            out.append(name)
    return out


def _snapshot_rows(conn: Connection, connection: str, groups: bool) -> pd.DataFrame:
    """The snapshot from the driver's rows, turned into columns batch by batch (any database)."""
    stmt = (sa.select(users.c.employee_id, users.c.fingerprint, users.c.active,
                      *([users.c.group_fingerprint] if groups else []))
            .where(users.c.managed_by == connection))
    ids: list[pa.Array] = []
    fps: list[np.ndarray] = []
    active: list[np.ndarray] = []
    group_fps: list[np.ndarray] = []
    # A million rows never exist as tuples at once.
    for batch in fetch_batches(conn, stmt, SNAPSHOT_BATCH):
        i, f, a, *g = zip(*batch, strict=True)
        del batch
        ids.append(pa.array(i, pa.large_string()))
        fps.append(np.fromiter(f, dtype=np.int64, count=len(f)))
        active.append(np.fromiter(a, dtype=bool, count=len(a)))
        if g:
            group_fps.append(np.fromiter(g[0], dtype=np.int64, count=len(f)))
    return _snapshot_frame(
        pa.chunked_array(ids, pa.large_string()).combine_chunks(),
        np.concatenate(fps) if fps else np.zeros(0, dtype=np.int64),
        np.concatenate(active) if active else np.zeros(0, dtype=bool),
        (np.concatenate(group_fps) if group_fps else np.zeros(0, dtype=np.int64))
        if groups else None)


def _snapshot_frame(ids: pa.Array, fingerprints: np.ndarray, active: np.ndarray,
                    group_fingerprints: np.ndarray | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"employee_id": pd.Series(ids, dtype="str"),
                          "fingerprint": fingerprints, "active": active})
    if group_fingerprints is not None:
        frame["group_fingerprint"] = group_fingerprints
    return frame


# Joins the snapshot's values in SQLite's group_concat. A C0 control character: the
# readers reject every row holding one, so no employee id from a file contains it (and
# a store where one does anyway is read row by row instead).
_UNIT = "\x1f"
# People joined into one value at a time: a chunk's text is ~8 MB, so the read never
# holds a whole connection's (SQLite's, Python's and Arrow's copies of a million
# people's text were ~130 MB at the plan's peak).
JOINED_CHUNK = 250_000


def _chunk_end(conn: Connection, connection: str, after: str | None, size: int
               ) -> str | None:
    """The employee id ``size`` people after ``after`` (from the first when None) in the
    snapshot index's order; None when fewer are left. Walks the index without reading
    a value, so it costs ~10 ms per million people skipped."""
    start = "" if after is None else "AND employee_id > :after "
    return conn.execute(sa.text(
        f"SELECT employee_id FROM users WHERE managed_by = :c {start}"
        "ORDER BY employee_id LIMIT 1 OFFSET :skip"),
        {"c": connection, "after": after, "skip": size - 1}).scalar()


def _joined_chunk(conn: Connection, connection: str, groups: bool, after: str | None,
                  upto: str | None) -> tuple[int, str | None]:
    """How many people have employee ids in (``after``, ``upto``] (open ends when
    None), and their ``id␟fingerprint␟active[␟group_fingerprint]`` values joined by ␟.

    A plain range of the covering snapshot index: the aggregate reads it as fast as a
    whole connection's (a subquery with LIMIT instead costs 40% more).
    """
    # SQLite-only text: integers join as decimal text without a CAST (10% faster).
    extra = " || char(31) || group_fingerprint" if groups else ""
    bounds = ("" if after is None else "AND employee_id > :after ") + (
        "" if upto is None else "AND employee_id <= :upto")
    people, text = conn.execute(sa.text(
        "SELECT count(*), group_concat(employee_id || char(31) || fingerprint || char(31) "
        f"|| active{extra}, char(31)) FROM users WHERE managed_by = :c {bounds}"),
        {"c": connection, "after": after, "upto": upto}).one()
    return people, text


def _sqlite_snapshot(conn: Connection, connection: str, groups: bool,
                     chunk: int = JOINED_CHUNK) -> pd.DataFrame | None:
    """The snapshot as joined text values parsed by Arrow, ``chunk`` people at a time;
    None when it cannot be.

    SQLite hands a million rows to Python as a million tuples (0.79 s, best of 3); a
    value of ``id␟fingerprint␟active␟…`` split by Arrow takes 0.63 s, most of it SQLite
    building the value. The count and every chunk come from one read transaction, so
    all see the same rows. ``groups`` adds each person's group fingerprint, read in the
    same scan of the covering snapshot index. An id holding the separator splits into
    more values than its chunk's people make, which sends the read row by row.
    """
    mine = users.c.managed_by == connection
    people = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
    if not people:
        return None
    width = 4 if groups else 3
    ids: list[pa.Array] = []
    fps: list[np.ndarray] = []
    active: list[np.ndarray] = []
    group_fps: list[np.ndarray] = []
    after: str | None = None
    seen = 0
    while seen < people:
        upto = _chunk_end(conn, connection, after, chunk)
        count, text = _joined_chunk(conn, connection, groups, after, upto)
        if not count or text is None:
            return None  # cannot happen in one read transaction; never guess if it does
        tokens = pc.split_pattern(pa.array([text], pa.large_string()), _UNIT).flatten()
        del text
        if len(tokens) != width * count:
            return None  # an id holds the separator
        at = np.arange(count, dtype=np.int64) * width
        ids.append(tokens.take(at))
        fps.append(pc.cast(tokens.take(at + 1), pa.int64()).to_numpy())
        active.append(pc.equal(tokens.take(at + 2), "1").to_numpy(zero_copy_only=False))
        if groups:
            group_fps.append(pc.cast(tokens.take(at + 3), pa.int64()).to_numpy())
        del tokens
        seen += count
        if upto is None:
            break
        after = upto
    if seen != people:
        return None  # never guess
    return _snapshot_frame(
        pa.chunked_array(ids, pa.large_string()).combine_chunks(), np.concatenate(fps),
        np.concatenate(active), np.concatenate(group_fps) if groups else None)


def snapshot(engine: Engine, connection: str, group_fingerprints: bool = False
             ) -> pd.DataFrame:
    """``employee_id`` (str), ``fingerprint`` (int64), ``active`` of ``connection``'s
    people, and their ``group_fingerprint`` (int64) when asked."""
    with reading(engine) as conn:
        if conn.dialect.name == "sqlite":
            fast = _sqlite_snapshot(conn, connection, group_fingerprints)
            if fast is not None:
                return fast
        return _snapshot_rows(conn, connection, group_fingerprints)


class SqlState:
    """The built-in store as one connection's plan reads it."""

    def __init__(self, engine: Engine, connection: str) -> None:
        self.engine = engine
        self.connection = connection

    def memberships(self, people: Sequence[str] | None = None,
                    other_than: Collection[str] | None = None) -> pd.DataFrame:
        """Members of this connection's groups who are its people, and which it made."""
        return memberships(self.engine, self.connection, people, other_than)

    def group_drift(self) -> pd.DataFrame:
        """Memberships of the connection's groups removed outside filebridge (marked by
        triggers; an empty table on a night without any)."""
        return group_drift_marks(self.engine, self.connection)

    def snapshot(self, group_fingerprints: bool = False) -> pd.DataFrame:
        """``employee_id`` (str), ``fingerprint`` (int64), ``active`` of everyone managed,
        and ``group_fingerprint`` (int64) when asked."""
        return snapshot(self.engine, self.connection, group_fingerprints)

    def fetch(self, employee_ids: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """The current ``fields`` of those people, indexed by ``employee_id``; "" is blank."""
        wanted = check_fields(fields)
        plain = [f for f in wanted if not f.startswith(CUSTOM_PREFIX)]
        custom = [f[len(CUSTOM_PREFIX):] for f in wanted if f.startswith(CUSTOM_PREFIX)]
        ids = list(dict.fromkeys(str(i) for i in employee_ids))
        found: list[tuple[Any, ...]] = []
        attrs: list[tuple[Any, ...]] = []
        with reading(self.engine) as conn:
            for part in chunks(ids):
                where = (users.c.managed_by == self.connection, users.c.employee_id.in_(part))
                found += fetch_raw(conn, sa.select(
                    users.c.employee_id, *(users.c[f] for f in plain)).where(*where))
                if custom:
                    attrs += fetch_raw(conn, sa.select(
                        users.c.employee_id, user_attributes.c.name, user_attributes.c.value)
                        .join_from(user_attributes, users)
                        .where(*where, user_attributes.c.name.in_(custom)))
        frame = pd.DataFrame(found, columns=[KEY, *plain], dtype=object).set_index(KEY)
        if custom:
            values = (pd.DataFrame(attrs, columns=[KEY, "name", "value"], dtype=object)
                      .pivot(index=KEY, columns="name", values="value"))
            for name in custom:
                column = values[name] if name in values.columns else pd.Series(dtype=object)
                frame[CUSTOM_PREFIX + name] = column.reindex(frame.index).fillna("").astype(
                    object)
        order = [i for i in ids if i in frame.index]
        return frame.loc[order, wanted]

    def drift(self) -> pd.DataFrame:
        """Fields changed outside filebridge (``employee_id, field, written``); one read of
        a table that is empty on a night without drift."""
        return drift_marks(self.engine, self.connection)

    def existing_ids(self, employee_ids: Iterable[str]) -> set[str]:
        """Which of ``employee_ids`` exist in the store, under any connection or none."""
        ids = sorted({str(i) for i in employee_ids})
        out: set[str] = set()
        with reading(self.engine) as conn:
            for part in chunks(ids):
                out.update(r[0] for r in fetch_raw(conn, sa.select(users.c.employee_id)
                                                   .where(users.c.employee_id.in_(part))
                                                   .distinct()))
        return out

    def holders_of_emails(self, emails: Sequence[str]) -> pd.DataFrame:
        """Every account using one of ``emails``: ``email, managed_by, employee_id, active``."""
        return holders_of_emails(self.engine, emails)

    def manager_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """The employee id each work email names unambiguously (this connection first)."""
        return manager_ids_by_email(self.engine, self.connection, emails)

    def inactive_since(self, cutoff: datetime) -> frozenset[str]:
        """This connection's people deactivated at or before ``cutoff``."""
        return inactive_since(self.engine, self.connection, cutoff)

    def org(self) -> StoredOrg:
        """This connection's departments and job titles (and the LMS's own)."""
        return stored_org(self.engine, self.connection)

    def org_usage(self, fields: Sequence[str], codes: Sequence[str],
                  titles: Sequence[str]) -> pd.DataFrame:
        """Active people using these department codes or job titles."""
        return org_usage(self.engine, self.connection, fields, codes, titles)
