"""Many creates at once: custom attributes written with the new rows' ids read back in
one range, on SQLite and PostgreSQL, including a store whose ids a sequence hands out
below older explicit ids (each attribute then finds its person by lookup)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.schema import user_attributes, users
from filebridge.lms.sqlwrite import BULK_ATTRIBUTES
from tests.conftest import BACKENDS
from tests.lms.plans import person
from tests.lms.plans import plan as make_plan

NOW = datetime(2026, 12, 3, tzinfo=UTC)
COUNT = BULK_ATTRIBUTES + 200


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)


def _people() -> list[dict[str, str]]:
    # Every third person has no cost centre: a blank value is no attribute row.
    return [person(f"{i:05d}", email=f"p{i}@x",
                   custom_cost_center="" if i % 3 == 0 else f"CC-{i % 7}")
            for i in range(COUNT)]


def _attributes(engine: Engine, connection: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(users.c.employee_id, user_attributes.c.value)
            .join_from(user_attributes, users)
            .where(users.c.managed_by == connection, user_attributes.c.name == "cost_center"))
        return dict(rows.all())


def _create_all(engine: Engine) -> None:
    p = make_plan(new=_people())
    with engine.begin() as tx:
        SqlStore(engine).apply_within(tx, p, 1, NOW)


def _expected() -> dict[str, str]:
    return {r["employee_id"]: r["custom.cost_center"] for r in _people()
            if r["custom.cost_center"]}


def test_many_creates_store_each_attribute_with_its_person(any_engine: Engine) -> None:
    _create_all(any_engine)
    assert _attributes(any_engine, "acme") == _expected()


def test_ids_below_older_explicit_ids_still_find_their_person(any_engine: Engine) -> None:
    # Another connection's person holds a high explicit id (a restored or hand-made row):
    # PostgreSQL's sequence then hands the new people lower ids than it.
    with any_engine.begin() as tx:
        tx.execute(users.insert().values(id=10**9, managed_by="other", employee_id="00001",
                                         created_at=NOW, updated_at=NOW))
        tx.execute(user_attributes.insert().values(user_id=10**9, name="cost_center",
                                                   value="theirs"))
    _create_all(any_engine)
    assert _attributes(any_engine, "acme") == _expected()
    assert _attributes(any_engine, "other") == {"00001": "theirs"}
