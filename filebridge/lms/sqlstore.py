"""The built-in LMS store: people, org data and learning records in SQL (SQLite or PostgreSQL).

Reads are bulk reads straight from the driver's cursor; writes are compiled Core
statements run with ``executemany`` (see ``filebridge.sql.execute_many``), so a
million creates cost one prepared statement, not a million SQLAlchemy round trips.
No SQL is ever built from data: field names are checked against the canonical list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from filebridge.failpoints import failpoint
from filebridge.lms.errors import InvalidFieldName, StalePlan
from filebridge.lms.lifecycle import apply_deletes, apply_rekeys
from filebridge.lms.org import apply_org
from filebridge.lms.schema import (
    COMPONENT,
    MIGRATIONS,
    PERSON_FIELDS,
    changes,
    completions,
    courses,
    departments,
    job_titles,
    user_attributes,
    users,
)
from filebridge.person import CUSTOM_FIELD, KEY
from filebridge.plan.model import Plan
from filebridge.sql import (
    execute_many,
    fetch_batches,
    fetch_raw,
    gc_paused,
    location,
    migrate,
    reading,
)

# SQLite allows 999 bound parameters in old builds; stay under it per IN list.
CHUNK = 900
# Rows converted to columns at a time when reading a whole connection's snapshot.
SNAPSHOT_BATCH = 100_000
# People inserted per executemany when creating many at once.
CREATE_BATCH = 50_000
_CUSTOM_PREFIX = "custom."


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _check_fields(fields: Iterable[str]) -> list[str]:
    out = []
    for name in fields:
        if name != KEY and name not in PERSON_FIELDS and not CUSTOM_FIELD.match(name):
            raise InvalidFieldName(name)
        if name != KEY:
            out.append(name)
    return out


def _strings(series: pd.Series) -> list[str]:
    # Plans carry strings; blanks may still arrive as NaN/None from upstream frames.
    if series.hasnans:
        series = series.fillna("")
    if not pd.api.types.is_string_dtype(series):
        series = series.astype(str)
    return series.tolist()


def _int64(series: pd.Series) -> list[int]:
    values = series.to_numpy()
    # A hash may arrive as uint64; the column is a signed BIGINT, same 64 bits.
    if values.dtype == np.uint64:
        values = values.view(np.int64)
    return values.astype(np.int64).tolist()


def _user_id(c: str = "p_c", e: str = "p_eid") -> sa.ScalarSelect[Any]:
    return (sa.select(users.c.id)
            .where(users.c.managed_by == sa.bindparam(c), users.c.employee_id == sa.bindparam(e))
            .scalar_subquery())


def _snapshot_rows(conn: Connection, connection: str) -> pd.DataFrame:
    """The snapshot from the driver's rows, turned into columns batch by batch (any database)."""
    stmt = (sa.select(users.c.employee_id, users.c.fingerprint, users.c.active)
            .where(users.c.managed_by == connection))
    ids: list[pa.Array] = []
    fps: list[np.ndarray] = []
    active: list[np.ndarray] = []
    # A million rows never exist as tuples at once.
    for batch in fetch_batches(conn, stmt, SNAPSHOT_BATCH):
        i, f, a = zip(*batch, strict=True)
        del batch
        ids.append(pa.array(i, pa.large_string()))
        fps.append(np.fromiter(f, dtype=np.int64, count=len(f)))
        active.append(np.fromiter(a, dtype=bool, count=len(a)))
    return _snapshot_frame(pa.chunked_array(ids, pa.large_string()).combine_chunks(),
                           np.concatenate(fps) if fps else np.zeros(0, dtype=np.int64),
                           np.concatenate(active) if active else np.zeros(0, dtype=bool))


def _snapshot_frame(ids: pa.Array, fingerprints: np.ndarray, active: np.ndarray
                    ) -> pd.DataFrame:
    return pd.DataFrame({"employee_id": pd.Series(ids, dtype="str"),
                         "fingerprint": fingerprints, "active": active})


# Joins the snapshot's values in SQLite's group_concat. A C0 control character: the
# readers reject every row holding one, so no employee id from a file contains it (and
# a store where one does anyway is read row by row instead).
_UNIT = "\x1f"
# Above this many people the joined text would near SQLite's 1 GB value limit.
_JOINED_MAX = 10_000_000


def _sqlite_snapshot(conn: Connection, connection: str) -> pd.DataFrame | None:
    """The snapshot as one joined text value parsed by Arrow; None when it cannot be.

    SQLite hands a million rows to Python as a million tuples (0.79 s, best of 3); one
    value of ``id␟fingerprint␟active␟…`` split by Arrow takes 0.63 s, most of it SQLite
    building the value. The count and the joined value come from one read transaction,
    so both see the same rows.
    """
    mine = users.c.managed_by == connection
    people = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
    if not people or people > _JOINED_MAX:
        return None
    # One scan: the guard (any id holding the separator means no) and the joined values.
    # SQLite-only text: integers join as decimal text without a CAST (10% faster).
    bad, text = conn.execute(sa.text(
        "SELECT max(instr(employee_id, char(31))), group_concat(employee_id || char(31) || "
        "fingerprint || char(31) || active, char(31)) FROM users WHERE managed_by = :c"),
        {"c": connection}).one()
    if bad:
        return None
    tokens = pc.split_pattern(pa.array([text], pa.large_string()), _UNIT).flatten()
    del text
    if len(tokens) != 3 * people:
        return None  # cannot happen with the guard above; never guess if it does
    at = np.arange(people, dtype=np.int64) * 3
    return _snapshot_frame(tokens.take(at),
                           pc.cast(tokens.take(at + 1), pa.int64()).to_numpy(),
                           pc.equal(tokens.take(at + 2), "1").to_numpy(zero_copy_only=False))


class SqlStore:
    """The built-in LMS store over one SQLAlchemy engine (shared with the ledger)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.location = location(engine)

    def migrate(self) -> list[str]:
        """Create or upgrade the store's tables; returns the migrations applied now."""
        return migrate(self.engine, COMPONENT, MIGRATIONS)

    # -- reads -----------------------------------------------------------------

    def snapshot(self, connection: str) -> pd.DataFrame:
        """``employee_id`` (str), ``fingerprint`` (int64), ``active`` of ``connection``'s people."""
        with reading(self.engine) as conn:
            if conn.dialect.name == "sqlite":
                fast = _sqlite_snapshot(conn, connection)
                if fast is not None:
                    return fast
            return _snapshot_rows(conn, connection)

    def fetch(
        self, connection: str, employee_ids: Sequence[str], fields: Sequence[str]
    ) -> pd.DataFrame:
        """The current ``fields`` of those people, indexed by ``employee_id``; "" is blank."""
        wanted = _check_fields(fields)
        plain = [f for f in wanted if not f.startswith(_CUSTOM_PREFIX)]
        custom = [f[len(_CUSTOM_PREFIX):] for f in wanted if f.startswith(_CUSTOM_PREFIX)]
        ids = list(dict.fromkeys(str(i) for i in employee_ids))
        found: list[tuple[Any, ...]] = []
        attrs: list[tuple[Any, ...]] = []
        with reading(self.engine) as conn:
            for part in _chunks(ids):
                where = (users.c.managed_by == connection, users.c.employee_id.in_(part))
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
                frame[_CUSTOM_PREFIX + name] = column.reindex(frame.index).fillna("").astype(object)
        order = [i for i in ids if i in frame.index]
        return frame.loc[order, wanted]

    def existing_employee_ids(self, employee_ids: Iterable[str]) -> set[str]:
        """Which of ``employee_ids`` exist in the store, under any connection or none."""
        ids = sorted({str(i) for i in employee_ids})
        out: set[str] = set()
        with reading(self.engine) as conn:
            for part in _chunks(ids):
                out.update(r[0] for r in fetch_raw(conn, sa.select(users.c.employee_id)
                                                   .where(users.c.employee_id.in_(part))
                                                   .distinct()))
        return out

    def users(
        self, connection: str | None, *, active: bool | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """People with every field, ordered by connection and employee id (None = everyone)."""
        stmt = sa.select(users.c.managed_by, users.c.employee_id,
                         *(users.c[f] for f in PERSON_FIELDS), users.c.active,
                         users.c.created_at, users.c.updated_at, users.c.deactivated_at)
        if connection is not None:
            stmt = stmt.where(users.c.managed_by == connection)
        if active is not None:
            stmt = stmt.where(users.c.active == active)
        stmt = stmt.order_by(users.c.managed_by, users.c.employee_id).limit(limit)
        with reading(self.engine) as conn:
            result = conn.execute(stmt)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def completions(self, since: datetime | None) -> pd.DataFrame:
        """Course results recorded after ``since`` (all when None), oldest first."""
        stmt = (sa.select(users.c.managed_by.label("connection"), users.c.employee_id,
                          courses.c.code.label("course_code"), courses.c.title.label("course"),
                          completions.c.status, completions.c.completed_at, completions.c.score,
                          completions.c.time_spent_minutes, completions.c.recorded_at)
                .join_from(completions, users).join(courses)
                .order_by(completions.c.recorded_at, completions.c.id))
        if since is not None:
            stmt = stmt.where(completions.c.recorded_at > since)
        with reading(self.engine) as conn:
            result = conn.execute(stmt)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def dump(self) -> list[tuple[Any, ...]]:
        """Users, attributes, departments and job titles, ordered, without ids or timestamps."""
        out: list[tuple[Any, ...]] = []
        with reading(self.engine) as conn:
            # Whether deactivated_at is set is state; its value is a timestamp.
            for managed_by, *person, active, fingerprint, deactivated in conn.execute(sa.select(
                    users.c.managed_by, users.c.employee_id, *(users.c[f] for f in PERSON_FIELDS),
                    users.c.active, users.c.fingerprint, users.c.deactivated_at.is_not(None))):
                out.append(("user", managed_by or "", *person, bool(active), int(fingerprint),
                            bool(deactivated)))
            for r in conn.execute(sa.select(users.c.managed_by, users.c.employee_id,
                                            user_attributes.c.name, user_attributes.c.value)
                                  .join_from(user_attributes, users)):
                out.append(("attribute", r[0] or "", *r[1:]))
            for d in conn.execute(sa.select(departments.c.code, departments.c.name,
                                            departments.c.parent_code)):
                out.append(("department", *d))
            out += [("job_title", r[0]) for r in conn.execute(sa.select(job_titles.c.name))]
        return sorted(out)

    # -- apply -----------------------------------------------------------------

    def apply(
        self, tx: Connection, plan: Plan, run_id: int | None, now: datetime
    ) -> dict[str, int]:
        """Write ``plan`` inside the caller's transaction ``tx`` (never commits); returns counts.

        Raises ``StalePlan`` when the store no longer matches what the plan was made
        from (the caller's transaction then rolls back, so nothing is half-applied).
        """
        fields = _check_fields(plan.fields)
        _check_fields(plan.updates["field"].unique().tolist())
        rekeyed = apply_rekeys(tx, plan, run_id, now)  # rehires first: later steps use new ids
        with gc_paused():
            counts = {"create": self._create(tx, plan, fields, run_id, now)}
        failpoint("mid-apply")
        counts["update"], counts["fields_updated"] = self._update(tx, plan, run_id, now)
        counts["deactivate"] = self._set_active(tx, plan, False, run_id, now)
        counts["reactivate"] = self._set_active(tx, plan, True, run_id, now)
        counts["delete"] = apply_deletes(tx, plan, run_id, now)
        counts["rekey"] = rekeyed
        if plan.org_planned:
            counts.update(apply_org(tx, plan, now))
            return counts
        touched = set(fields) if len(plan.creates) else set()
        touched |= set(plan.updates["field"].unique().tolist())
        counts["departments_created"] = self._departments(tx, plan.connection, touched, now)
        counts["job_titles_created"] = self._job_titles(tx, plan.connection, touched)
        return counts

    def _create(self, tx: Connection, plan: Plan, fields: list[str], run_id: int | None,
                now: datetime) -> int:
        frame = plan.creates
        # In slices: the driver needs Python objects, and a million people as one list of
        # rows is about a gigabyte of them. Same transaction, same statements.
        for start in range(0, len(frame), CREATE_BATCH):
            self._create_rows(tx, plan.connection, frame.iloc[start:start + CREATE_BATCH],
                              fields, run_id, now)
        return len(frame)

    def _create_rows(self, tx: Connection, connection: str, frame: pd.DataFrame,
                     fields: list[str], run_id: int | None, now: datetime) -> None:
        ids = _strings(frame[KEY])
        plain = [f for f in fields if not f.startswith(_CUSTOM_PREFIX)]
        columns: dict[str, list[Any]] = {KEY: ids, **{f: _strings(frame[f]) for f in plain}}
        columns["fingerprint"] = _int64(frame["fingerprint"])
        try:
            execute_many(tx, users.insert(), columns, {
                "managed_by": connection, "active": True,
                "created_at": now, "updated_at": now})
        except sa.exc.IntegrityError as error:
            raise StalePlan(connection, "create", len(ids), 0) from error
        del columns
        for name in (f for f in fields if f.startswith(_CUSTOM_PREFIX)):
            values = _strings(frame[name])
            keep = [i for i, v in enumerate(values) if v]
            self._insert_attributes(tx, connection, name, [ids[i] for i in keep],
                                    [values[i] for i in keep])
        self._journal(tx, connection, "create", run_id, now, ids)

    def _update(self, tx: Connection, plan: Plan, run_id: int | None,
                now: datetime) -> tuple[int, int]:
        frame, c = plan.updates, plan.connection
        for name, group in frame.groupby("field", sort=True):
            ids, new = _strings(group[KEY]), _strings(group["new"])
            field = str(name)
            if field.startswith(_CUSTOM_PREFIX):
                # Delete then insert: an upsert that also turns a blank into "no row".
                execute_many(tx, sa.delete(user_attributes).where(
                    user_attributes.c.user_id == _user_id(),
                    user_attributes.c.name == sa.bindparam("p_name")),
                    {"p_eid": ids}, {"p_c": c, "p_name": field[len(_CUSTOM_PREFIX):]})
                keep = [i for i, v in enumerate(new) if v]
                self._insert_attributes(tx, c, field, [ids[i] for i in keep],
                                        [new[i] for i in keep])
                continue
            stmt = (sa.update(users)
                    .where(users.c.managed_by == sa.bindparam("p_c"),
                           users.c.employee_id == sa.bindparam("p_eid"))
                    .values({field: sa.bindparam("p_new"), "updated_at": sa.bindparam("p_now")}))
            found = execute_many(tx, stmt, {"p_eid": ids, "p_new": new}, {"p_c": c, "p_now": now})
            if tx.dialect.supports_sane_multi_rowcount and found != len(ids):
                raise StalePlan(c, f"update {field}", len(ids), found)
        fps = plan.fingerprints
        if len(fps):
            stmt = (sa.update(users)
                    .where(users.c.managed_by == sa.bindparam("p_c"),
                           users.c.employee_id == sa.bindparam("p_eid"))
                    .values(fingerprint=sa.bindparam("p_fp")))
            execute_many(tx, stmt, {"p_eid": _strings(fps[KEY]),
                                    "p_fp": _int64(fps["fingerprint"])}, {"p_c": c})
        if len(frame):
            execute_many(tx, changes.insert(), {
                "employee_id": _strings(frame[KEY]), "field": _strings(frame["field"]),
                "old": _strings(frame["old"]), "new": _strings(frame["new"])},
                {"run_id": run_id, "connection": c, "action": "update", "at": now})
        return plan.updated_people, len(frame)

    def _set_active(self, tx: Connection, plan: Plan, active: bool, run_id: int | None,
                    now: datetime) -> int:
        frame = plan.reactivations if active else plan.deactivations
        if not len(frame):
            return 0
        ids = _strings(frame[KEY])
        stmt = (sa.update(users)
                .where(users.c.managed_by == sa.bindparam("p_c"),
                       users.c.employee_id == sa.bindparam("p_eid"))
                .values(active=active, updated_at=sa.bindparam("p_now"),
                        deactivated_at=None if active else sa.bindparam("p_now")))
        action = "reactivate" if active else "deactivate"
        found = execute_many(tx, stmt, {"p_eid": ids}, {"p_c": plan.connection, "p_now": now})
        if tx.dialect.supports_sane_multi_rowcount and found != len(ids):
            raise StalePlan(plan.connection, action, len(ids), found)
        self._journal(tx, plan.connection, action, run_id, now, ids)
        return len(ids)

    def _insert_attributes(self, tx: Connection, connection: str, field: str,
                           ids: list[str], values: list[str]) -> None:
        stmt = user_attributes.insert().from_select(
            ["user_id", "name", "value"],
            sa.select(users.c.id, sa.bindparam("p_name", type_=sa.Text),
                      sa.bindparam("p_value", type_=sa.Text))
            .where(users.c.managed_by == sa.bindparam("p_c"),
                   users.c.employee_id == sa.bindparam("p_eid")))
        execute_many(tx, stmt, {"p_eid": ids, "p_value": values},
                     {"p_c": connection, "p_name": field[len(_CUSTOM_PREFIX):]})

    def _journal(self, tx: Connection, connection: str, action: str, run_id: int | None,
                 now: datetime, ids: list[str]) -> None:
        execute_many(tx, changes.insert(), {"employee_id": ids},
                     {"run_id": run_id, "connection": connection, "action": action, "at": now})

    def _departments(self, tx: Connection, connection: str, touched: set[str],
                     now: datetime) -> int:
        # Keyed by code; a mapping without department_code keys them by name.
        key = "department_code" if "department_code" in touched else (
            "department" if "department" in touched else None)
        if key is None:
            return 0
        code = users.c[key]
        # max(): deterministic, and any non-blank name or parent beats a blank one.
        source = (sa.select(code, sa.func.max(users.c.department),
                            sa.func.max(users.c.parent_department_code), sa.literal(now))
                  .where(users.c.managed_by == connection, code != "",
                         code.not_in(sa.select(departments.c.code)))
                  .group_by(code))
        stmt = self._insert_new(tx, departments, ["code", "name", "parent_code", "created_at"],
                                source, "code")
        return int(tx.execute(stmt).rowcount)

    def _job_titles(self, tx: Connection, connection: str, touched: set[str]) -> int:
        if "job_title" not in touched:
            return 0
        title = users.c.job_title
        source = (sa.select(title).distinct()
                  .where(users.c.managed_by == connection, title != "",
                         title.not_in(sa.select(job_titles.c.name))))
        return int(tx.execute(self._insert_new(tx, job_titles, ["name"], source, "name")).rowcount)

    @staticmethod
    def _insert_new(tx: Connection, table: sa.Table, names: list[str],
                    source: sa.Select[Any], key: str) -> sa.Insert:
        # NOT IN already skips known rows; ON CONFLICT covers a concurrent writer
        # of another connection inserting the same department first.
        if tx.dialect.name == "sqlite":
            return sqlite.insert(table).from_select(names, source).on_conflict_do_nothing(
                index_elements=[key])
        if tx.dialect.name == "postgresql":
            # Imported here: loading the PostgreSQL dialect costs every run 0.1 s.
            from sqlalchemy.dialects import postgresql
            return postgresql.insert(table).from_select(names, source).on_conflict_do_nothing(
                index_elements=[key])
        return table.insert().from_select(names, source)
