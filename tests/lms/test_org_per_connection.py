"""Departments and job titles belong to the connection that made them: two customers
with a department "SALES" have two departments, and 0009 moves older stores over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.org import stored_org
from filebridge.lms.schema import departments, job_titles
from filebridge.sql import open_engine
from tests.lms.contract import NOW
from tests.lms.plans import person, plan

OLD_DEPARTMENTS = """CREATE TABLE departments (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
    parent_code TEXT NOT NULL DEFAULT '', created_at DATETIME NOT NULL,
    managed_by VARCHAR(200))"""
OLD_TITLES = """CREATE TABLE job_titles (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, managed_by VARCHAR(200))"""


def _apply(engine: Engine, connection: str, *people: dict[str, str]) -> dict[str, int]:
    with engine.begin() as tx:
        return SqlStore(engine).apply_within(tx, plan(connection, new=list(people)), 1, NOW)


def _org(engine: Engine) -> list[tuple[str | None, str, str]]:
    with engine.connect() as conn:
        deps = conn.execute(sa.select(departments.c.managed_by, departments.c.code,
                                      departments.c.name)).all()
        titles = conn.execute(sa.select(job_titles.c.managed_by, job_titles.c.name,
                                        job_titles.c.name)).all()
    return sorted([tuple(r) for r in [*deps, *titles]], key=str)


@pytest.mark.parametrize("backend", ["engine", pytest.param("postgres_engine",
                                                             marks=pytest.mark.postgres)])
def test_two_customers_with_the_same_codes_never_collide(backend: str,
                                                          request: pytest.FixtureRequest
                                                          ) -> None:
    engine = request.getfixturevalue(backend)
    sales = {"department_code": "SALES", "department": "Sales", "job_title": "Rep"}
    assert _apply(engine, "acme", person("1", **sales))["departments_created"] == 1
    counts = _apply(engine, "globex", person("1", **{**sales, "department": "Vertrieb"}))
    assert (counts["departments_created"], counts["job_titles_created"]) == (1, 1)
    assert _org(engine) == sorted([("acme", "SALES", "Sales"), ("globex", "SALES", "Vertrieb"),
                                   ("acme", "Rep", "Rep"), ("globex", "Rep", "Rep")], key=str)
    # Each connection sees its own department only.
    mine = stored_org(engine, "globex").departments
    assert mine[["code", "name", "managed_by"]].values.tolist() == [
        ["SALES", "Vertrieb", "globex"]]


def test_migration_0009_moves_an_older_store_without_loss(tmp_path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    SqlStore(engine).migrate()
    then = datetime(2026, 1, 2, tzinfo=UTC)
    with engine.begin() as tx:  # the tables as 0001 made them before 0009
        tx.exec_driver_sql("DROP TABLE departments")
        tx.exec_driver_sql("DROP TABLE job_titles")
        tx.exec_driver_sql(OLD_DEPARTMENTS)
        tx.exec_driver_sql(OLD_TITLES)
        tx.execute(departments.insert(), [
            {"code": "SALES", "name": "Sales", "parent_code": "", "created_at": then,
             "managed_by": "acme"},
            {"code": "HQ", "name": "Head office", "parent_code": "", "created_at": then,
             "managed_by": None}])
        tx.execute(job_titles.insert(), [{"name": "Rep", "managed_by": "acme"}])
        tx.exec_driver_sql("DELETE FROM schema_migrations WHERE name = '0009_org_per_connection'")
    with engine.begin() as tx:  # the old constraint is there: a second SALES fails
        with pytest.raises(sa.exc.IntegrityError):
            with tx.begin_nested():
                tx.execute(departments.insert().values(code="SALES", created_at=then,
                                                       managed_by="globex"))
    assert SqlStore(engine).migrate() == ["0009_org_per_connection"]
    assert _org(engine) == sorted([("acme", "SALES", "Sales"), (None, "HQ", "Head office"),
                                   ("acme", "Rep", "Rep")], key=str)
    with engine.connect() as conn:
        created = conn.scalar(sa.select(departments.c.created_at)
                              .where(departments.c.code == "HQ"))
    assert created is not None and created.replace(tzinfo=UTC) == then
    sales = {"department_code": "SALES", "department": "Vertrieb", "job_title": "Rep"}
    counts = _apply(engine, "globex", person("1", **sales))
    assert (counts["departments_created"], counts["job_titles_created"]) == (1, 1)
    # The same connection still has one SALES: its own code is unique for it.
    with engine.begin() as tx, pytest.raises(sa.exc.IntegrityError):
        tx.execute(departments.insert().values(code="SALES", created_at=then,
                                               managed_by="globex"))
    assert SqlStore(engine).migrate() == []
