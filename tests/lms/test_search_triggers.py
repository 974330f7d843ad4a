"""Person search survives a rebuild of ``users``: the store's next prepare finds its
triggers (and PostgreSQL's trigram index) gone, recomputes the keys of people renamed
meanwhile and installs them again, so a search finds a person renamed before or after
the repair, by a hand edit or by an apply. On SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from filebridge.lms import SqlStore
from filebridge.lms.schema import PERSON_FIELDS, users
from filebridge.lms.search_repair import SEARCH_TRIGGERS, ensure_search_keys, missing_search_parts
from filebridge.plan.model import Plan
from tests.conftest import BACKENDS
from tests.lms.test_drift_triggers import rebuild_sqlite_users
from tests.lms.test_person_search import NOW, stored_people


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> SqlStore:
    return stored_people(request.getfixturevalue(request.param))


def rebuild_users(store: SqlStore) -> None:
    """Rebuild ``users`` the way an upgrade script outside filebridge would: a new table
    like it, the rows copied, the old one dropped, the new one renamed."""
    engine = store.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as tx:
            tx.exec_driver_sql("CREATE TABLE users_new (LIKE users INCLUDING ALL)")
            sequence = tx.exec_driver_sql(
                "SELECT pg_get_serial_sequence('users', 'id')").scalar_one()
            tx.exec_driver_sql(f"ALTER SEQUENCE {sequence} OWNED BY users_new.id")
            tx.exec_driver_sql("INSERT INTO users_new SELECT * FROM users")
            tx.exec_driver_sql("DROP TABLE users CASCADE")
            tx.exec_driver_sql("ALTER TABLE users_new RENAME TO users")
        return
    rebuild_sqlite_users(engine)


def hand_edit(store: SqlStore, employee_id: str, last_name: str) -> None:
    with store.engine.begin() as tx:
        tx.execute(sa.update(users).where(users.c.managed_by == "acme",
                                          users.c.employee_id == employee_id)
                   .values(last_name=last_name))


def missing(store: SqlStore) -> list[str]:
    with store.engine.connect() as conn:
        return missing_search_parts(conn)


def test_every_search_part_exists_after_the_migrations(store):
    assert missing(store) == []
    assert ensure_search_keys(store.engine) is False  # present: nothing is written


def test_a_rebuild_of_users_gets_person_search_back(store):
    rebuild_users(store)
    gone = missing(store)
    assert set(SEARCH_TRIGGERS[store.engine.dialect.name]) <= set(gone)
    # Renamed while the triggers are gone: the stored key still says "Rao".
    hand_edit(store, "4", "Quist")
    assert store.find_people("acme", "quist") == []

    store.prepare()
    assert missing(store) == []
    assert store.find_people("acme", "quist") == ["4"]  # its key was recomputed
    assert store.find_people("acme", "rao") == []
    assert store.find_people("acme", "uis") == ["4"]  # inside the name: trigram index
    # Renamed after the repair, by hand: the trigger clears the key again.
    hand_edit(store, "2", "Lindqvist")
    assert store.find_people("acme", "lindq") == ["2"]
    assert store.find_people("acme", "olsen") == []
    # Renamed by an apply: the recomputed key reaches the trigram index.
    update = pd.DataFrame({"employee_id": ["3"], "field": ["last_name"], "old": ["Silva"],
                           "new": ["Marchetti"], "line": [4]})
    store.apply(Plan("acme", "snapshot", ("employee_id", *PERSON_FIELDS), updates=update),
                None, NOW)
    with store.engine.connect() as conn:
        key = conn.scalar(sa.select(users.c.name_key).where(users.c.managed_by == "acme",
                                                            users.c.employee_id == "3"))
    assert key == "priya marchetti"
    assert store.find_people("acme", "rchet") == ["3"]
    assert store.find_people("acme", "silva") == []
