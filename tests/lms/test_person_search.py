"""Finding a person of one connection: former e-mail, the start of a name, near matches,
on SQLite and PostgreSQL (whose name indexes compare in byte order)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.schema import PERSON_FIELDS, changes
from filebridge.plan.model import Plan
from tests.conftest import BACKENDS

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
PEOPLE = [("1", "Zoë", "Ölund-Berg", "zoe@x.example"), ("2", "Zoe", "Olsen", "zo@x.example"),
          ("3", "Priya", "Silva", "priya@x.example"), ("4", "Priyanka", "Rao", "pr@x.example")]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> SqlStore:
    engine: Engine = request.getfixturevalue(request.param)
    creates = pd.DataFrame({f: [""] * len(PEOPLE) for f in PERSON_FIELDS})
    creates["employee_id"] = [p[0] for p in PEOPLE]
    creates["first_name"] = [p[1] for p in PEOPLE]
    creates["last_name"] = [p[2] for p in PEOPLE]
    creates["email"] = [p[3] for p in PEOPLE]
    creates["fingerprint"], creates["line"] = range(len(PEOPLE)), range(2, 2 + len(PEOPLE))
    s = SqlStore(engine)
    fields = ("employee_id", *PERSON_FIELDS)
    with engine.begin() as tx:
        s.apply_within(tx, Plan("acme", "snapshot", fields, creates=creates), 1, NOW)
        s.apply_within(tx, Plan("other", "snapshot", fields, creates=creates.assign(
            employee_id=["9" + i for i in creates["employee_id"]])), 2, NOW)
        tx.execute(changes.insert().values(connection="acme", employee_id="3", action="update",
                                           field="email", old="p.silva@x.example",
                                           new="priya@x.example", at=NOW))
    return s


def test_lookups(store: SqlStore) -> None:
    find = store.find_people
    assert find("acme", "P.Silva@X.example") == ["3"]  # a former e-mail, typed in capitals
    assert find("acme", "PRIYA@x.example") == ["3"]
    assert find("acme", "priya") == ["3", "4"]  # the start of a first name
    assert find("acme", "SIL") == ["3"]  # of a last name
    assert find("acme", "priya si") == ["3"]  # "first last"
    assert find("acme", "ölund") == ["1"]  # non-ASCII, any case
    assert find("acme", "ÖLUND") == ["1"]
    assert find("acme", "sen") == ["2"]  # inside a name: the slower full search
    assert find("acme", "zo") == ["1", "2"]
    assert find("other", "priya si") == ["93"]  # never another connection's person
    assert find("acme", "nobody") == []


def test_near_matches_read_people_starting_like_the_query(store: SqlStore) -> None:
    near = store.directory("acme", "Priyx Silvq")
    assert sorted(near["employee_id"]) == ["3", "4"]
    assert sorted(store.directory("acme", "zoex")["employee_id"]) == ["1", "2"]
    assert len(store.directory("acme")) == 4


def test_lookups_use_their_indexes_and_the_snapshot_read_keeps_its_own(engine: Engine) -> None:
    """SQLite's query plans: the lookups use the indexes of migration 0006, and a read by
    connection alone (the nightly snapshot) still uses its covering index."""
    def plan(sql: str) -> str:
        with engine.connect() as conn:
            return " ".join(str(r[-1]) for r in conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_changes_former_email" in plan(
        "SELECT employee_id FROM changes WHERE connection = 'acme' AND field = 'email' AND "
        "old IN ('a', 'b')")
    assert "ix_users_last_name_lower" in plan(
        "SELECT employee_id FROM users INDEXED BY ix_users_last_name_lower WHERE managed_by = "
        "'acme' AND lower(last_name) >= 'sil' AND lower(last_name) < 'silz'")
    assert "ix_users_snapshot" in plan(
        "SELECT employee_id, fingerprint, active FROM users WHERE managed_by = 'acme'")
    assert "ix_users_snapshot" in plan(
        "SELECT employee_id, department_code FROM users WHERE managed_by = 'acme' AND "
        "department_code != ''")
