"""Database plumbing: SQLite settings, locking, migrations, state-location checks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from filebridge.sql import (
    DatabaseUnavailable,
    SchemaTooNew,
    applied_migrations,
    execute_many,
    location,
    migrate,
    open_engine,
)
from filebridge.state_dir import UnsafeStateLocation, check_state_location, filesystem_type


def test_sqlite_settings_on_every_connection(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'new' / 'folder' / 'db.sqlite'}")
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }
    assert (tmp_path / "new" / "folder").is_dir()


def test_begin_takes_the_write_lock_up_front(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first, second = open_engine(url), open_engine(url, busy_timeout_ms=100)
    # No write happened yet in the first transaction: only BEGIN IMMEDIATE locks here.
    with first.begin() as tx:
        tx.exec_driver_sql("SELECT 1")
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as caught, second.begin():
            pass
        assert time.monotonic() - started < 1.5
    assert caught.value.url == url
    assert isinstance(caught.value, DatabaseUnavailable) and caught.value.code


def test_sql_errors_are_not_unavailable(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(sa.exc.OperationalError), engine.begin() as tx:
        tx.exec_driver_sql("SELEC 1")


def test_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "is-a-folder"
    folder.mkdir()
    with pytest.raises(DatabaseUnavailable) as caught:
        open_engine(f"sqlite:///{folder}").connect()
    assert "unable to open" in caught.value.reason


def test_location_never_shows_the_password() -> None:
    shown = location("postgresql+psycopg://bob:s3cret@db.example:5433/fb")
    assert shown == "postgresql+psycopg://bob@db.example:5433/fb"
    assert "s3cret" not in str(DatabaseUnavailable(shown, "timeout"))


def _table(name: str):  # noqa: ANN202 - small factory for migration steps
    def step(conn: Connection) -> None:
        conn.exec_driver_sql(f"CREATE TABLE {name} (x INTEGER)")

    return step


def test_migrations_apply_in_order_once(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    steps = [("0001_a", _table("a")), ("0002_b", _table("b"))]
    assert migrate(engine, "demo", steps[:1]) == ["0001_a"]
    assert migrate(engine, "demo", steps) == ["0002_b"]
    assert migrate(engine, "demo", steps) == []
    assert applied_migrations(engine, "demo") == ["0001_a", "0002_b"]
    assert migrate(engine, "other", [("0001_a", _table("c"))]) == ["0001_a"]
    with pytest.raises(SchemaTooNew):
        migrate(engine, "demo", steps[:1])


def test_failed_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def broken(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        migrate(engine, "demo", [("0001_broken", broken)])
    assert applied_migrations(engine, "demo") == []
    assert not sa.inspect(engine).has_table("half")


def test_execute_many_binds_values_never_formats_them(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.Text), sa.Column("b", sa.Integer))
    with engine.begin() as tx:
        table.create(tx)
        assert execute_many(tx, table.insert(), {"a": ["x", "'); DROP TABLE t; --"]}, {"b": 7}) == 2
        assert execute_many(tx, table.insert(), {"a": []}) == 0
        assert sorted(tx.execute(sa.select(table)).all()) == [("'); DROP TABLE t; --", 7), ("x", 7)]


def test_world_writable_state_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    check_state_location(folder)
    check_state_location(folder / "not-yet-created")
    os.chmod(folder, 0o777)
    with pytest.raises(UnsafeStateLocation) as caught:
        check_state_location(folder)
    assert caught.value.path == str(folder) and "writable" in caught.value.reason


def test_network_filesystem_is_refused(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"server:/export {tmp_path}/net\\040share nfs4 rw 0 0\n"
        f"/dev/sdb1 {tmp_path}/net\\040share/local ext4 rw 0 0\n"
    )
    share = tmp_path / "net share"
    (share / "local").mkdir(parents=True)
    with pytest.raises(UnsafeStateLocation) as caught:
        check_state_location(share / "state", mounts)
    assert "nfs4" in caught.value.reason
    check_state_location(share / "local", mounts)  # longest mount point wins
    assert filesystem_type(share / "local" / "x", mounts) == "ext4"
    assert filesystem_type(tmp_path, mounts) == "ext4"
