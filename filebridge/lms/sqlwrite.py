"""Writing a plan into the built-in store, inside the caller's transaction.

Writes are compiled Core statements run with ``executemany`` (``filebridge.sql.execute_many``),
and new rows (people, their attributes, the journal) go through ``insert_rows``, which
streams them with COPY on PostgreSQL: a million creates cost one statement, not a
million SQLAlchemy round trips. No SQL is ever built from data: field names are
checked against the canonical list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from filebridge.failpoints import failpoint
from filebridge.lms.drift import ATTRIBUTE_INSERT_TRIGGER, clear_drift, writing
from filebridge.lms.errors import StalePlan
from filebridge.lms.groups_sql import forget_fingerprints, write_groups
from filebridge.lms.lifecycle import apply_deletes, apply_rekeys
from filebridge.lms.org import apply_org
from filebridge.lms.schema import changes, departments, job_titles, user_attributes, users
from filebridge.lms.search_keys import index_new_people, keys_of, refresh_keys
from filebridge.lms.sqlite_create import (
    insert_attributes,
    insert_journal,
    jsonable,
    positions_hold,
)
from filebridge.lms.sqlstate import CUSTOM_PREFIX, check_fields
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.sql import deferred_indexes, execute_many, fetch_raw, gc_paused, insert_rows

# The journal's reason on a field put back after a change made outside filebridge.
DRIFT_REASON = "drift"
# People inserted per executemany when creating many at once.
CREATE_BATCH = 50_000
# From this many creates on, custom attributes are written with the new rows' ids read
# back in one range scan, instead of one id lookup per attribute row.
BULK_ATTRIBUTES = 1_000
# From this many creates on, SQLite's secondary indexes are built once after the insert
# instead of kept row by row, when the table at most doubles (measured: see _create).
BULK_REBUILD = 10_000


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


def _lines(frame: pd.DataFrame) -> list[int | None]:
    # The source line of each row; None where there is none (a leaver missing from a file).
    if "line" not in frame.columns:
        return [None] * len(frame)
    values = pd.to_numeric(frame["line"], errors="coerce").astype("Int64").astype(object)
    return values.where(values.notna(), None).tolist()


def _reasons(frame: pd.DataFrame) -> list[str | None]:
    if "reason" not in frame.columns:
        return [None] * len(frame)
    values = frame["reason"].astype(object)
    return values.where(values.notna(), None).tolist()


def _user_id(c: str = "p_c", e: str = "p_eid") -> sa.ScalarSelect[Any]:
    return (sa.select(users.c.id)
            .where(users.c.managed_by == sa.bindparam(c), users.c.employee_id == sa.bindparam(e))
            .scalar_subquery())


def write_plan(
    tx: Connection, plan: Plan, run_id: int | None, now: datetime
) -> dict[str, int]:
    """Write ``plan`` inside the caller's transaction ``tx`` (never commits); returns counts.

    Raises ``StalePlan`` when the store no longer matches what the plan was made
    from (the caller's transaction then rolls back, so nothing is half-applied).
    """
    fields = check_fields(plan.fields)
    check_fields(plan.updates["field"].unique().tolist())
    check_fields(plan.drift["field"].unique().tolist())
    writing(tx, True)  # what follows is filebridge's own write, not drift
    counts = _write(tx, plan, fields, run_id, now)
    # Renamed people (their keys cleared by trigger) are searchable again on commit.
    refresh_keys(tx, plan.connection)
    # Every person compared field by field has had their drift marks accounted for.
    clear_drift(tx, plan.connection, _strings(plan.fingerprints[KEY]))
    writing(tx, False)
    return counts


def _write(tx: Connection, plan: Plan, fields: list[str], run_id: int | None,
           now: datetime) -> dict[str, int]:
    rekeyed = apply_rekeys(tx, plan, run_id, now)  # rehires first: later steps use new ids
    with gc_paused():
        counts = {"create": _create(tx, plan, fields, run_id, now)}
    failpoint("mid-apply")
    counts["update"], counts["fields_updated"] = _update(tx, plan, run_id, now)
    counts["drift"] = plan.drifted_people
    if plan.groups_planned:
        counts.update(write_groups(tx, plan, now, run_id))
    else:  # e.g. an undo: whoever changed state is compared in full by the next run
        forget_fingerprints(tx, plan.connection, _strings(pd.concat(
            [plan.deactivations[KEY], plan.reactivations[KEY], plan.rekeys[KEY]])))
    counts["deactivate"] = _set_active(tx, plan, False, run_id, now)
    counts["reactivate"] = _set_active(tx, plan, True, run_id, now)
    counts["delete"] = apply_deletes(tx, plan, run_id, now)
    counts["rekey"] = rekeyed
    if plan.org_planned:
        counts.update(apply_org(tx, plan, now))
        return counts
    touched = set(fields) if len(plan.creates) else set()
    touched |= set(plan.updates["field"].unique().tolist())
    counts["departments_created"] = _departments(tx, plan.connection, touched, now)
    counts["job_titles_created"] = _job_titles(tx, plan.connection, touched)
    return counts


def _create(tx: Connection, plan: Plan, fields: list[str], run_id: int | None,
            now: datetime) -> int:
    frame = plan.creates
    tables, triggers = _rebuilt_for(tx, len(frame))
    with deferred_indexes(tx, tables, triggers):
        # In slices: the driver needs Python objects, and a million people as one list
        # of rows is about a gigabyte of them. Same transaction, same statements.
        for start in range(0, len(frame), CREATE_BATCH):
            _create_rows(tx, plan.connection, frame.iloc[start:start + CREATE_BATCH],
                         fields, run_id, now)
            failpoint("mid-create")
    return len(frame)


def _rebuilt_for(tx: Connection, creates: int) -> tuple[list[str], list[str]]:
    """The tables whose indexes, and the triggers, to set aside while ``creates`` people
    go in: a table's indexes when it gains at least as many rows as it holds (an initial
    load), so rebuilding them costs no more than the rows this run adds."""
    if creates < BULK_REBUILD or tx.dialect.name != "sqlite":
        return [], []
    tables = [t.name for t in (users, changes)
              if creates >= int(tx.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0)]
    # It tells hand-made attributes from filebridge's; this insert is filebridge's own.
    return tables, [ATTRIBUTE_INSERT_TRIGGER]


def _create_rows(tx: Connection, connection: str, frame: pd.DataFrame,
                 fields: list[str], run_id: int | None, now: datetime) -> None:
    ids = _strings(frame[KEY])
    plain = [f for f in fields if not f.startswith(CUSTOM_PREFIX)]
    custom = [f for f in fields if f.startswith(CUSTOM_PREFIX)]
    columns: dict[str, list[Any]] = {KEY: ids, **{f: _strings(frame[f]) for f in plain}}
    columns["fingerprint"] = _int64(frame["fingerprint"])
    blank = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    name_key, last_key = keys_of(frame.get("first_name", blank), frame.get("last_name", blank))
    columns["name_key"], columns["last_key"] = name_key.tolist(), last_key.tolist()
    last_id = _last_user_id(tx)
    before = last_id if custom and len(ids) >= BULK_ATTRIBUTES else None
    try:
        insert_rows(tx, users, columns, {
            "managed_by": connection, "active": True,
            "created_at": now, "updated_at": now})
    except sa.exc.IntegrityError as error:
        raise StalePlan(connection, "create", len(ids), 0) from error
    index_new_people(tx, last_id)
    del columns
    if _written_in_place(tx, connection, frame, custom, run_id, now, last_id):
        return
    user_ids = _new_user_ids(tx, connection, ids, before) if before is not None else None
    if user_ids is not None:
        _bulk_attributes(tx, connection, frame, custom, ids, user_ids)
    else:
        for name in custom:
            values = _strings(frame[name])
            keep = [i for i, v in enumerate(values) if v]
            _insert_attributes(tx, connection, name, [ids[i] for i in keep],
                               [values[i] for i in keep])
    _journal(tx, connection, "create", run_id, now, ids, _lines(frame))


def _written_in_place(tx: Connection, connection: str, frame: pd.DataFrame,
                      custom: list[str], run_id: int | None, now: datetime,
                      last_id: int) -> bool:
    """On SQLite, many creates' attributes and journal rows by ``INSERT … SELECT`` from
    the rows just inserted; False (nothing written) where that does not apply."""
    if tx.dialect.name != "sqlite" or len(frame) < BULK_ATTRIBUTES:
        return False
    values = {name[len(CUSTOM_PREFIX):]: _strings(frame[name]) for name in custom}
    if not all(jsonable(v) for v in values.values()):
        return False
    if not positions_hold(tx, last_id, len(frame)):
        return False
    insert_attributes(tx, last_id, values)
    insert_journal(tx, connection, "create", run_id, now, last_id, _lines(frame))
    return True


def _bulk_attributes(tx: Connection, connection: str, frame: pd.DataFrame,
                     custom: list[str], ids: list[str], user_ids: list[int | None]) -> None:
    """Insert the non-blank custom attributes of the people just created, by their known
    row ids, in one statement ordered like the (user, name) key: every row then goes at
    the end of that index instead of splitting its pages one attribute after another.
    People whose id was not read back find theirs by lookup."""
    parts = [pd.DataFrame({"pos": np.arange(len(ids)), "user_id": pd.array(user_ids, dtype="Int64"),
                           "name": name[len(CUSTOM_PREFIX):], "value": _strings(frame[name])})
             for name in custom]
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not len(rows):
        return
    rows = rows[rows["value"] != ""]
    found = rows[rows["user_id"].notna()].sort_values(["user_id", "name"], kind="stable")
    insert_rows(tx, user_attributes, {"user_id": found["user_id"].astype("int64").tolist(),
                                      "name": found["name"].tolist(),
                                      "value": found["value"].tolist()})
    for name, lost in rows[rows["user_id"].isna()].groupby("name", sort=True):
        _insert_attributes(tx, connection, CUSTOM_PREFIX + str(name),
                           [ids[i] for i in lost["pos"]], lost["value"].tolist())


def _last_user_id(tx: Connection) -> int:
    """The highest user id so far (0 for none)."""
    return int(tx.execute(sa.select(sa.func.max(users.c.id))).scalar() or 0)


def _new_user_ids(tx: Connection, connection: str, ids: list[str],
                  before: int) -> list[int | None]:
    """The row id of each of ``ids`` just created, from one range read above ``before``.

    Fresh rows get ids above every earlier one in SQLite and from a sequence elsewhere;
    an id not found that way (a sequence set below older explicit ids) is None, and its
    attributes are then looked up one by one.
    """
    rows = fetch_raw(tx, sa.select(users.c.employee_id, users.c.id)
                     .where(users.c.managed_by == connection, users.c.id > before))
    found = dict(rows)
    del rows
    return [found.get(i) for i in ids]


def _update(tx: Connection, plan: Plan, run_id: int | None,
            now: datetime) -> tuple[int, int]:
    frame, c = plan.updates, plan.connection
    if len(plan.drift):
        # Drift is corrected like an HR change; its journal rows say it was drift.
        frame = pd.concat([frame.assign(reason=None), plan.drift.rename(
            columns={"lms": "old"}).assign(reason=DRIFT_REASON)], ignore_index=True)
    for name, group in frame.groupby("field", sort=True):
        ids, new = _strings(group[KEY]), _strings(group["new"])
        field = str(name)
        if field.startswith(CUSTOM_PREFIX):
            # Delete then insert: an upsert that also turns a blank into "no row".
            execute_many(tx, sa.delete(user_attributes).where(
                user_attributes.c.user_id == _user_id(),
                user_attributes.c.name == sa.bindparam("p_name")),
                {"p_eid": ids}, {"p_c": c, "p_name": field[len(CUSTOM_PREFIX):]})
            keep = [i for i, v in enumerate(new) if v]
            _insert_attributes(tx, c, field, [ids[i] for i in keep],
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
        insert_rows(tx, changes, {
            "employee_id": _strings(frame[KEY]), "field": _strings(frame["field"]),
            "old": _strings(frame["old"]), "new": _strings(frame["new"]),
            "line": _lines(frame), "reason": _reasons(frame)},
            {"run_id": run_id, "connection": c, "action": "update", "at": now})
    return plan.updated_people, len(plan.updates)


def _set_active(tx: Connection, plan: Plan, active: bool, run_id: int | None,
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
    _journal(tx, plan.connection, action, run_id, now, ids, _lines(frame), _reasons(frame))
    return len(ids)


def _insert_attributes(tx: Connection, connection: str, field: str,
                       ids: list[str], values: list[str]) -> None:
    stmt = user_attributes.insert().from_select(
        ["user_id", "name", "value"],
        sa.select(users.c.id, sa.bindparam("p_name", type_=sa.Text),
                  sa.bindparam("p_value", type_=sa.Text))
        .where(users.c.managed_by == sa.bindparam("p_c"),
               users.c.employee_id == sa.bindparam("p_eid")))
    execute_many(tx, stmt, {"p_eid": ids, "p_value": values},
                 {"p_c": connection, "p_name": field[len(CUSTOM_PREFIX):]})


def _journal(tx: Connection, connection: str, action: str, run_id: int | None,
             now: datetime, ids: list[str], lines: list[int | None],
             reasons: list[str | None] | None = None) -> None:
    columns: dict[str, list[Any]] = {"employee_id": ids, "line": lines}
    if reasons is not None:
        columns["reason"] = reasons
    insert_rows(tx, changes, columns,
                {"run_id": run_id, "connection": connection, "action": action, "at": now})


def _departments(tx: Connection, connection: str, touched: set[str],
                 now: datetime) -> int:
    # Keyed by code; a mapping without department_code keys them by name.
    key = "department_code" if "department_code" in touched else (
        "department" if "department" in touched else None)
    if key is None:
        return 0
    code = users.c[key]
    # max(): deterministic, and any non-blank name or parent beats a blank one.
    source = (sa.select(code, sa.func.max(users.c.department),
                        sa.func.max(users.c.parent_department_code), sa.literal(now),
                        sa.literal(connection))
              .where(users.c.managed_by == connection, code != "",
                     code.not_in(sa.select(departments.c.code)
                                 .where(departments.c.managed_by == connection)))
              .group_by(code))
    stmt = _insert_new(tx, departments,
                       ["code", "name", "parent_code", "created_at", "managed_by"], source)
    return len(tx.execute(stmt).all())


def _job_titles(tx: Connection, connection: str, touched: set[str]) -> int:
    if "job_title" not in touched:
        return 0
    title = users.c.job_title
    source = (sa.select(title, sa.literal(connection)).distinct()
              .where(users.c.managed_by == connection, title != "",
                     title.not_in(sa.select(job_titles.c.name)
                                  .where(job_titles.c.managed_by == connection))))
    return len(tx.execute(_insert_new(tx, job_titles, ["name", "managed_by"], source)).all())


def _insert_new(tx: Connection, table: sa.Table, names: list[str],
                source: sa.Select[Any]) -> sa.Insert:
    # NOT IN skips the connection's known rows; its lock keeps any other run of the same
    # connection out, and other connections' rows are theirs (no conflict possible).
    # RETURNING counts the rows on every driver (psycopg reports no rowcount here).
    return table.insert().from_select(names, source).returning(table.c.id)
