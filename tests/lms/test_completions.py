"""Completions in the built-in store: idempotent recording, corrections bump the revision,
and migration 0002 upgrades a database created before revisions existed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms.completions import CompletionInput, completions_for_export, record_completions
from filebridge.lms.schema import MIGRATIONS, completions, users
from filebridge.sql import open_engine
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """These rules hold on SQLite and on PostgreSQL alike."""
    return request.getfixturevalue(request.param)


NOW = datetime(2026, 11, 27, tzinfo=UTC)


def person(engine: Engine, employee_id: str = "001") -> int:
    with engine.begin() as tx:
        return int(tx.scalar(users.insert().values(
            managed_by="acme", employee_id=employee_id, created_at=NOW, updated_at=NOW)
            .returning(users.c.id)))


def result(user_id: int, score: float, attempt: int = 1) -> CompletionInput:
    return CompletionInput(user_id, "SEC-101", "Security", "passed",
                           datetime(2026, 11, 20, 9, 30, tzinfo=UTC), score, 20, attempt)


def test_same_result_twice_changes_nothing_and_a_correction_takes_a_new_revision(
        engine: Engine) -> None:
    uid = person(engine)
    with engine.begin() as tx:
        assert record_completions(tx, [result(uid, 80), result(uid, 60, attempt=2)], NOW) == \
            {"inserted": 2, "corrected": 0, "unchanged": 0}
    with engine.begin() as tx:
        assert record_completions(tx, [result(uid, 80)], NOW)["unchanged"] == 1
    with engine.begin() as tx:
        assert record_completions(tx, [result(uid, 90)], NOW)["corrected"] == 1
    frame = completions_for_export(engine, "acme")
    assert frame[["attempt", "revision", "score"]].values.tolist() == [[2, 2, 60], [1, 3, 90]]
    assert completions_for_export(engine, "acme", after_revision=2)["score"].tolist() == [90]


def test_migration_0002_upgrades_an_old_database(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as tx:  # what 0001 created before revisions existed
        tx.exec_driver_sql("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        tx.exec_driver_sql("CREATE TABLE courses (id INTEGER PRIMARY KEY)")
        tx.exec_driver_sql(
            "CREATE TABLE completions (id INTEGER PRIMARY KEY, user_id INTEGER, course_id "
            "INTEGER, status TEXT, completed_at DATETIME, score FLOAT, time_spent_minutes "
            "INTEGER, recorded_at DATETIME)")
        tx.exec_driver_sql("INSERT INTO completions VALUES (1, 1, 1, 'passed', '2026-01-01', "
                           "1, 1, '2026-01-01'), (2, 1, 1, 'failed', '2026-01-02', 1, 1, "
                           "'2026-01-02')")
    from filebridge.sql import migrate

    migrate(engine, "lms", MIGRATIONS[:1])
    # 0001 would create the tables; here they already exist in their old form.
    assert "revision" not in {c["name"] for c in sa.inspect(engine).get_columns("completions")}
    mine = [m for m in MIGRATIONS if m[0] in ("0001_create_tables", "0002_completion_revisions")]
    assert migrate(engine, "lms", mine) == ["0002_completion_revisions"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(completions.c.id, completions.c.attempt,
                                      completions.c.revision).order_by(completions.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, 1, 1), (2, 2, 2)]
    engine.dispose()
