"""The drift triggers survive migrations: present after every migration on SQLite and
PostgreSQL, and back after a migration rebuilt the table they sit on."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.drift import ensure_drift_marks, expected_triggers, installed_triggers
from filebridge.lms.schema import COMPONENT, MIGRATIONS, user_attributes, user_drift, users
from filebridge.sql import migrate, rebuild_table
from tests.conftest import BACKENDS

NOW = datetime(2026, 12, 3, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)


def triggers(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return installed_triggers(conn)


def rebuild_sqlite_users(engine: Engine) -> None:
    """SQLite's documented rebuild of ``users`` (create, copy, drop, rename), with its
    indexes, done outside filebridge: the rebuilt table has none of its triggers."""
    database = engine.url.database
    assert database
    engine.dispose()
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA foreign_keys = OFF")
        ddl = db.execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]
        indexes = [r[0] for r in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'users' AND type = 'index' "
            "AND sql IS NOT NULL")]
        db.execute(ddl.replace("CREATE TABLE users", "CREATE TABLE users_new", 1))
        db.execute("INSERT INTO users_new SELECT * FROM users")
        db.execute("DROP TABLE users")
        db.execute("PRAGMA legacy_alter_table = ON")  # other tables' triggers name users
        db.execute("ALTER TABLE users_new RENAME TO users")
        for index in indexes:
            db.execute(index)


def managed_person(engine: Engine) -> int:
    """One managed person with a custom attribute, written as filebridge's apply would."""
    with engine.begin() as conn:
        uid = conn.execute(users.insert().values(
            managed_by="hr", employee_id="E1", first_name="Ada", created_at=NOW,
            updated_at=NOW).returning(users.c.id)).scalar_one()
        conn.execute(user_attributes.insert().values(user_id=uid, name="cost_center",
                                                     value="CC-1"))
    with engine.begin() as conn:
        conn.execute(user_drift.delete())  # the test's own setup is not drift
    return int(uid)


def drift(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(user_drift.c.field)))


def test_every_trigger_exists_after_all_migrations(any_engine):
    assert triggers(any_engine) == expected_triggers(any_engine.dialect.name)
    uid = managed_person(any_engine)
    with any_engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == uid).values(first_name="Bea"))
        conn.execute(user_attributes.update().where(user_attributes.c.user_id == uid)
                     .values(value="CC-2"))
    assert drift(any_engine) == {"first_name", "custom.cost_center"}


def test_a_migration_that_rebuilds_a_table_gets_its_triggers_back(any_engine):
    rebuilt = [*MIGRATIONS, ("9901_test_rebuild_attributes",
                             lambda conn: rebuild_table(conn, user_attributes))]
    migrate(any_engine, COMPONENT, rebuilt)
    if any_engine.dialect.name == "sqlite":  # the rebuild dropped them: the case at stake
        assert "user_attributes_drift_update" not in triggers(any_engine)
    assert ensure_drift_marks(any_engine) == (any_engine.dialect.name == "sqlite")
    assert triggers(any_engine) == expected_triggers(any_engine.dialect.name)
    assert ensure_drift_marks(any_engine) is False  # present: nothing is written
    uid = managed_person(any_engine)
    with any_engine.begin() as conn:
        conn.execute(user_attributes.update().where(user_attributes.c.user_id == uid)
                     .values(value="CC-2"))
    assert drift(any_engine) == {"custom.cost_center"}


def test_the_store_upgrade_puts_back_triggers_a_users_rebuild_dropped(engine):
    """SQLite's documented rebuild (create, copy, drop, rename) of ``users`` by an
    upgrade script: the store's next prepare finds the triggers gone and recreates them."""
    uid = managed_person(engine)
    rebuild_sqlite_users(engine)
    assert "users_drift" not in triggers(engine)
    SqlStore(engine).prepare()
    assert triggers(engine) == expected_triggers("sqlite")
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == uid).values(first_name="Bea"))
    assert drift(engine) == {"first_name"}
