"""Departments and job titles in the built-in store: read them, see who uses them, and
apply a plan's org changes (create, rename or re-parent, remove)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.schema import departments, job_titles, users
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.plan.org import StoredOrg, department_key
from filebridge.sql import execute_many, fetch_raw, reading

CHUNK = 900


def stored_org(engine: Engine, connection: str) -> StoredOrg:
    """The departments and job titles ``connection`` sees: its own, and those made in the
    LMS itself (no connection) unless it has its own of the same code or name. Those of
    other connections are theirs: the same code there is another department."""
    with reading(engine) as conn:
        deps = fetch_raw(conn, sa.select(departments.c.code, departments.c.name,
                                         departments.c.parent_code, departments.c.managed_by)
                         .where(_visible(departments.c.managed_by, connection)))
        titles = fetch_raw(conn, sa.select(job_titles.c.name, job_titles.c.managed_by)
                           .where(_visible(job_titles.c.managed_by, connection)))
    dep = pd.DataFrame(deps, columns=["code", "name", "parent_code", "managed_by"], dtype=object)
    jt = pd.DataFrame(titles, columns=["name", "managed_by"], dtype=object)
    return StoredOrg(_own_first(dep, "code", connection), _own_first(jt, "name", connection))


def _visible(owner: sa.ColumnElement[Any], connection: str) -> sa.ColumnElement[bool]:
    return sa.or_(owner == connection, owner.is_(None))


def _own_first(frame: pd.DataFrame, key: str, connection: str) -> pd.DataFrame:
    """One row per ``key``: the connection's own where it has one."""
    own = frame["managed_by"] == connection
    shadowed = ~own & frame[key].isin(set(frame.loc[own, key]))
    return frame.loc[~shadowed].reset_index(drop=True)


def org_usage(engine: Engine, connection: str, fields: Sequence[str], codes: Sequence[str],
              titles: Sequence[str]) -> pd.DataFrame:
    """Active people of ``connection`` using these department codes or job titles (kind,
    value, managed_by, id): another connection's people use its own departments."""
    key = department_key(fields) or "department_code"
    rows: list[tuple[Any, ...]] = []
    with reading(engine) as conn:
        for kind, column, values in (("department", users.c[key], list(codes)),
                                     ("job_title", users.c.job_title, list(titles))):
            for start in range(0, len(values), CHUNK):
                part = values[start:start + CHUNK]
                rows += [(kind, *r) for r in fetch_raw(conn, sa.select(
                    column, users.c.managed_by, users.c.employee_id)
                    .where(users.c.active == sa.true(), users.c.managed_by == connection,
                           column.in_(part)))]
    return pd.DataFrame(rows, columns=["kind", "value", "managed_by", KEY], dtype=object)


def apply_org(tx: Connection, plan: Plan, now: datetime) -> dict[str, int]:
    """Write the plan's department and job title changes; returns counts."""
    org, c = plan.org, plan.connection
    counts = {"departments_created": 0, "departments_updated": 0, "departments_removed": 0,
              "job_titles_created": 0, "job_titles_removed": 0}
    if org.empty:
        return counts
    dep, jt = org.loc[org["kind"] == "department"], org.loc[org["kind"] == "job_title"]
    new = dep.loc[dep["action"] == "create"]
    # Each connection has its own departments and runs one at a time (its lock), so a
    # code this plan creates cannot exist meanwhile: a conflict here is a real error.
    counts["departments_created"] = execute_many(tx, departments.insert(), {
        "code": new["code"].tolist(), "name": new["name"].tolist(),
        "parent_code": new["parent_code"].tolist()}, {"created_at": now, "managed_by": c})
    changed = dep.loc[dep["action"] == "update"]
    counts["departments_updated"] = execute_many(tx, sa.update(departments).where(
        departments.c.code == sa.bindparam("p_code"), departments.c.managed_by == c)
        .values(name=sa.bindparam("p_name"), parent_code=sa.bindparam("p_parent")), {
        "p_code": changed["code"].tolist(), "p_name": changed["name"].tolist(),
        "p_parent": changed["parent_code"].tolist()})
    key = users.c[department_key(plan.fields) or "department_code"]
    gone = dep.loc[dep["action"] == "remove", "code"].tolist()
    # The plan checked who uses them; the NOT EXISTS is the last word inside the transaction.
    counts["departments_removed"] = execute_many(tx, sa.delete(departments).where(
        departments.c.code == sa.bindparam("p_code"), departments.c.managed_by == c,
        ~sa.exists().where(users.c.active == sa.true(), users.c.managed_by == c,
                           key == departments.c.code)),
        {"p_code": gone})
    titles = jt.loc[jt["action"] == "create", "code"].tolist()
    counts["job_titles_created"] = execute_many(tx, job_titles.insert(), {"name": titles},
                                                {"managed_by": c})
    old_titles = jt.loc[jt["action"] == "remove", "code"].tolist()
    counts["job_titles_removed"] = execute_many(tx, sa.delete(job_titles).where(
        job_titles.c.name == sa.bindparam("p_name"), job_titles.c.managed_by == c,
        ~sa.exists().where(users.c.active == sa.true(), users.c.managed_by == c,
                           users.c.job_title == job_titles.c.name)),
        {"p_name": old_titles})
    return counts
