"""``deferred_indexes``: SQLite's secondary indexes and the named triggers are gone inside
the block and back after it, a unique constraint still holds inside, and a failed block
rolled back leaves every one of them and the page cache as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.sql import deferred_indexes, open_engine
from filebridge.sql.bulk import BULK_CACHE_KIB

SCHEMA = [
    "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, v TEXT)",
    "CREATE INDEX ix_t_v ON t (v)",
    "CREATE INDEX ix_t_part ON t (v, k) WHERE v <> ''",
    "CREATE TABLE seen (k TEXT)",
    "CREATE TRIGGER t_seen AFTER INSERT ON t BEGIN INSERT INTO seen VALUES (NEW.k); END",
]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        for ddl in SCHEMA:
            conn.exec_driver_sql(ddl)
    return engine


def objects(conn: sa.Connection) -> list[tuple[str, str]]:
    return sorted(tuple(r) for r in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND sql IS NOT NULL"))


def test_indexes_and_triggers_are_set_aside_then_rebuilt(engine: Engine) -> None:
    with engine.begin() as conn:
        before = objects(conn)
        with deferred_indexes(conn, ["t"], ["t_seen"]):
            assert objects(conn) == []
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -BULK_CACHE_KIB
            conn.exec_driver_sql("INSERT INTO t (k, v) VALUES ('a', 'x'), ('b', '')")
            with pytest.raises(sa.exc.IntegrityError):  # the unique key still holds
                conn.exec_driver_sql("INSERT INTO t (k, v) VALUES ('a', 'y')")
        assert objects(conn) == before
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2000
        assert conn.exec_driver_sql("SELECT k FROM t INDEXED BY ix_t_v WHERE v = 'x'"
                                    ).scalar() == "a"
        assert conn.exec_driver_sql("SELECT count(*) FROM seen").scalar() == 0
        conn.exec_driver_sql("INSERT INTO t (k, v) VALUES ('c', 'z')")  # trigger is back
        assert conn.exec_driver_sql("SELECT k FROM seen").scalar() == "c"


def test_a_failed_block_rolls_back_to_every_index_and_trigger(engine: Engine) -> None:
    with engine.connect() as conn:
        before = objects(conn)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        with deferred_indexes(conn, ["t"], ["t_seen"]):
            conn.exec_driver_sql("INSERT INTO t (k, v) VALUES ('a', 'x')")
            raise RuntimeError("stop")
    with engine.connect() as conn:
        assert objects(conn) == before
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
