"""An initial load big enough for the bulk path (indexes built once after the insert, the
attribute drift trigger set aside): on SQLite and PostgreSQL the store ends with every
index and trigger it had, the people are searchable, later hand edits are drift, and the
load can be undone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.drift import drift_marks
from filebridge.lms.schema import changes, user_attributes, users
from filebridge.lms.sqlwrite import BULK_REBUILD
from tests.conftest import BACKENDS
from tests.lms.plans import FIELDS, person
from tests.lms.plans import plan as make_plan

NOW = datetime(2026, 12, 3, tzinfo=UTC)
COUNT = BULK_REBUILD + 50
NAMES = ["Åsa", "Jürgen", "Zoë", "Ιωάννης", "Mary-Jo"]


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)


def _people() -> list[dict[str, str]]:
    return [person(f"{i:06d}", email=f"p{i}@x", first_name=NAMES[i % len(NAMES)],
                   last_name=f"Straße{i}", custom_cost_center=f"CC-{i % 7}",
                   custom_site="" if i % 4 == 0 else f"S{i % 3}")
            for i in range(COUNT)]


def _schema(engine: Engine) -> list[tuple[str, str, str]]:
    """Every index and trigger of the database with its definition."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')")
        else:
            rows = conn.exec_driver_sql(
                "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = "
                "current_schema() UNION ALL SELECT 'trigger', t.tgname, "
                "pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal")
        return sorted(tuple(r) for r in rows)


def _load(engine: Engine) -> SqlStore:
    store = SqlStore(engine)
    store.apply(make_plan(new=_people(), fields=(*FIELDS, "last_name", "custom.site")), 1, NOW)
    return store


def test_a_bulk_load_keeps_every_index_and_trigger(any_engine: Engine) -> None:
    before = _schema(any_engine)
    store = _load(any_engine)
    assert _schema(any_engine) == before
    with any_engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(users)) == COUNT
        assert conn.scalar(sa.select(sa.func.count()).select_from(changes)) == COUNT
        attrs = dict(conn.execute(
            sa.select(user_attributes.c.name, sa.func.count()).group_by(user_attributes.c.name)
        ).all())
    assert attrs == {"cost_center": COUNT, "site": COUNT - len(range(0, COUNT, 4))}
    got = store.state("acme").fetch(["000007", "000008"], ["custom.cost_center", "custom.site"])
    assert got.to_dict("index") == {
        "000007": {"custom.cost_center": "CC-0", "custom.site": "S1"},
        "000008": {"custom.cost_center": "CC-1", "custom.site": ""}}
    if any_engine.dialect.name == "sqlite":
        with any_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            # The rebuilt indexes answer: the planner uses them and finds the row.
            found = conn.exec_driver_sql(
                "SELECT employee_id FROM users INDEXED BY ix_users_email WHERE email = 'p42@x'")
            assert found.scalar() == "000042"


def test_people_of_a_bulk_load_are_found_by_name(any_engine: Engine) -> None:
    store = _load(any_engine)
    assert store.find_people("acme", "Strasse1234") == ["001234"]  # ß folds to ss
    assert "000003" in store.find_people("acme", "ιωάννης", limit=COUNT)
    assert store.find_people("acme", "raße123", limit=50)[:2] == ["000123", "001230"]


def test_hand_edits_after_a_bulk_load_are_drift(any_engine: Engine) -> None:
    _load(any_engine)
    with any_engine.begin() as conn:
        uid = conn.scalar(sa.select(users.c.id).where(users.c.employee_id == "000004"))
        conn.execute(users.update().where(users.c.id == uid).values(email="hand@x"))
        conn.execute(user_attributes.insert().values(user_id=uid, name="site", value="X"))
    marks = drift_marks(any_engine, "acme")
    assert sorted(zip(marks["employee_id"], marks["field"], marks["written"],
                      strict=True)) == [("000004", "custom.site", ""),
                                        ("000004", "email", "p4@x")]


def test_a_bulk_load_can_be_undone(any_engine: Engine) -> None:
    store = _load(any_engine)
    undo, refused = store.undo_plan("acme", 1)
    assert refused.empty
    store.apply(undo, 2, NOW)
    assert store.state("acme").snapshot().query("active").empty
