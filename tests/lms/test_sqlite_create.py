"""Many creates at once: each person's custom attributes and journal row (with its source
line) end up exactly as given, on SQLite (written by ``INSERT … SELECT`` from the new rows)
and on PostgreSQL (bound from Python), odd values included; a value SQLite's JSON
functions would cut is still stored whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.schema import changes, user_attributes, users
from filebridge.lms.sqlite_create import positions_hold
from filebridge.lms.sqlwrite import BULK_ATTRIBUTES
from filebridge.plan.model import Plan
from tests.conftest import BACKENDS
from tests.lms.plans import FIELDS, person
from tests.lms.plans import plan as make_plan

NOW = datetime(2026, 12, 3, tzinfo=UTC)
COUNT = BULK_ATTRIBUTES + 300
ODD = ["O'Brien", '"quoted", comma', "back\\slash", "Zoë 😀", "line\u2028sep", "tab\there",
       "  spaced  ", "ünïcödé"]

# The journal rows in order, and each (employee id, attribute name) with its value.
Stored = tuple[list[tuple[object, ...]], dict[tuple[str, str], str]]


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)


def _plan(site_of: dict[int, str] | None = None) -> tuple[Plan, list[int | None]]:
    people = [person(f"{i:05d}", email=f"p{i}@x",
                     custom_cost_center="" if i % 3 == 0 else f"CC-{i % 7}",
                     custom_site=(site_of or {}).get(i, ODD[i % len(ODD)] if i % 5 else ""))
              for i in range(COUNT)]
    p = make_plan(new=people, fields=(*FIELDS, "custom.site"))
    # Lines with gaps (multi-line records, rejected rows) and one without a line at all.
    lines = [None if i == COUNT // 2 else 2 + 3 * i for i in range(COUNT)]
    p.creates["line"] = pd.array(lines, dtype="Int64")
    return p, lines


def _apply(engine: Engine, p: Plan) -> None:
    with engine.begin() as tx:
        SqlStore(engine).apply_within(tx, p, 7, NOW)


def _stored(engine: Engine) -> Stored:
    with engine.connect() as conn:
        journal = conn.execute(
            sa.select(changes.c.run_id, changes.c.connection, changes.c.employee_id,
                      changes.c.action, changes.c.line, changes.c.field, changes.c.reason)
            .order_by(changes.c.id)).all()
        attributes = conn.execute(
            sa.select(users.c.employee_id, user_attributes.c.name, user_attributes.c.value)
            .join_from(user_attributes, users)).all()
    return [tuple(r) for r in journal], {(e, n): v for e, n, v in attributes}


def _expected(p: Plan, lines: list[int | None]) -> Stored:
    frame = p.creates
    journal: list[tuple[object, ...]] = [
        (7, "acme", eid, "create", line, None, None)
        for eid, line in zip(frame["employee_id"], lines, strict=True)]
    attributes = {(eid, name[len("custom."):]): value
                  for name in ("custom.cost_center", "custom.site")
                  for eid, value in zip(frame["employee_id"], frame[name], strict=True)
                  if value}
    return journal, attributes


def test_many_creates_journal_each_line_and_store_each_attribute(any_engine: Engine) -> None:
    p, lines = _plan()
    _apply(any_engine, p)
    assert _stored(any_engine) == _expected(p, lines)


def test_a_value_json_would_cut_is_stored_whole(engine: Engine) -> None:
    p, lines = _plan({5: "before\x00after"})
    _apply(engine, p)
    journal, attributes = _stored(engine)
    assert attributes[("00005", "site")] == "before\x00after"
    assert (journal, attributes) == _expected(p, lines)


def test_positions_hold_only_for_exactly_the_ids_above(engine: Engine) -> None:
    rows = [{"managed_by": "acme", "employee_id": str(i), "created_at": NOW,
             "updated_at": NOW} for i in range(3)]
    with engine.begin() as tx:
        tx.execute(users.insert(), rows)
        assert positions_hold(tx, 0, 3)
        assert not positions_hold(tx, 0, 2)
        tx.execute(users.insert().values(id=10, managed_by="acme", employee_id="x",
                                         created_at=NOW, updated_at=NOW))
        assert not positions_hold(tx, 3, 1)  # one new row, but not at id 4
