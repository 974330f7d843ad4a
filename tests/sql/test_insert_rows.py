"""``insert_rows``: the bulk insert that streams rows with COPY on PostgreSQL and runs an
executemany elsewhere. Both roads must store exactly the values given, whatever they
contain, and report a duplicate as SQLAlchemy's ``IntegrityError`` like an insert does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms.schema import changes, users
from filebridge.sql import insert_rows
from tests.conftest import BACKENDS

NOW = datetime(2026, 12, 3, 4, 5, 6, tzinfo=UTC)
# Text COPY has its own escapes (tab, newline, backslash, \N for NULL): values carrying
# them must come back byte for byte, and the text "\N" must not become NULL.
AWKWARD = ["plain", "tab\there", "line\nbreak", "back\\slash", "\\N", "", "Zoë 名前 😀",
           "quote ' \" ,", "carriage\rreturn"]


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)


def test_values_come_back_exactly(any_engine: Engine) -> None:
    ids = [f"{i:03d}" for i in range(len(AWKWARD))]
    fingerprints = [-(2**63), 2**63 - 1, 0, 1, -1, 42, 7, 8, 9]
    with any_engine.begin() as tx:
        count = insert_rows(tx, users, {"employee_id": ids, "first_name": AWKWARD,
                                        "fingerprint": fingerprints},
                            {"managed_by": "acme", "active": False, "created_at": NOW,
                             "updated_at": NOW})
    assert count == len(ids)
    with any_engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.employee_id, users.c.first_name,
                                      users.c.fingerprint, users.c.active, users.c.created_at,
                                      users.c.deactivated_at)
                            .where(users.c.managed_by == "acme")
                            .order_by(users.c.employee_id)).all()
    assert [r.first_name for r in rows] == AWKWARD
    assert [r.fingerprint for r in rows] == fingerprints
    assert {r.active for r in rows} == {False}
    assert {r.deactivated_at for r in rows} == {None}
    assert {r.created_at.replace(tzinfo=UTC) if r.created_at.tzinfo is None
            else r.created_at for r in rows} == {NOW}


def test_nulls_and_numbers_in_the_journal(any_engine: Engine) -> None:
    with any_engine.begin() as tx:
        insert_rows(tx, changes, {"employee_id": ["1", "2", "3"], "line": [2, None, 4],
                                  "reason": [None, "drift", "\\N"]},
                    {"run_id": None, "connection": "acme", "action": "create", "at": NOW})
    with any_engine.connect() as conn:
        rows = conn.execute(sa.select(changes.c.employee_id, changes.c.line, changes.c.reason,
                                      changes.c.run_id)
                            .order_by(changes.c.employee_id)).all()
    assert [tuple(r) for r in rows] == [("1", 2, None, None), ("2", None, "drift", None),
                                        ("3", 4, "\\N", None)]


def test_nothing_to_insert_is_no_statement(any_engine: Engine) -> None:
    with any_engine.begin() as tx:
        assert insert_rows(tx, changes, {"employee_id": []}, {"connection": "acme"}) == 0


def test_duplicate_is_an_integrity_error_and_rolls_back(any_engine: Engine) -> None:
    row = {"managed_by": "acme", "created_at": NOW, "updated_at": NOW}
    with any_engine.begin() as tx:
        insert_rows(tx, users, {"employee_id": ["1"]}, row)
    with pytest.raises(sa.exc.IntegrityError), any_engine.begin() as tx:
        insert_rows(tx, users, {"employee_id": ["2", "1"]}, row)
    with any_engine.connect() as conn:
        kept = conn.execute(sa.select(users.c.employee_id)).scalars().all()
    assert kept == ["1"]


def test_unknown_column_is_refused(any_engine: Engine) -> None:
    # COPY names its columns in the statement's text, and an executemany would drop an
    # unknown key silently: a name not in the table is refused on both roads.
    with pytest.raises(ValueError, match="no columns"), any_engine.begin() as tx:
        insert_rows(tx, users, {"employee_id": ["1"], "x); DROP TABLE users; --": ["x"]})
    with any_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 0
