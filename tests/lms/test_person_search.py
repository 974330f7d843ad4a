"""Finding a person of one connection: former e-mail, the start of a name, a fragment from
inside it, near matches, names compared case-folded, on SQLite and PostgreSQL (whose key
indexes compare in byte order), and every lookup through an index."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.schema import PERSON_FIELDS, changes, users
from filebridge.plan.model import Plan
from tests.conftest import BACKENDS

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
PEOPLE = [("1", "Zoë", "Ölund-Berg", "zoe@x.example"), ("2", "Zoe", "Olsen", "zo@x.example"),
          ("3", "Priya", "Silva", "priya@x.example"), ("4", "Priyanka", "Rao", "pr@x.example"),
          ("5", "Élodie", "Strauß", "el@x.example"), ("6", "İlhan", "Işık", "il@x.example"),
          ("7", "Björn", "ÖBERG", "bj@x.example")]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> SqlStore:
    return stored_people(request.getfixturevalue(request.param))


def stored_people(engine: Engine) -> SqlStore:
    """A store on ``engine`` holding ``PEOPLE`` in connections acme and other."""
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
    assert find("acme", "sen") == ["2"]  # inside a name: the trigram index
    assert find("acme", "a sil") == ["3"]  # across first and last name
    assert find("acme", "zo") == ["1", "2"]
    assert find("other", "priya si") == ["93"]  # never another connection's person
    assert find("acme", "nobody") == []
    assert find("acme", "lv") == []  # two letters inside a name: no index, no scan


@pytest.mark.parametrize("query, found", [
    ("öberg", ["7"]), ("Öberg", ["7"]), ("ÖBERG", ["7"]), ("berg", ["1", "7"]),  # Ö/ö
    ("élodie", ["5"]), ("ÉLODIE", ["5"]),  # É/é
    ("strauss", ["5"]), ("STRAUSS", ["5"]), ("Strauß", ["5"]), ("STRAUẞ", ["5"]),  # ß/SS
    ("élodie strauss", ["5"]), ("auss", ["5"]),
    # Turkish pairs I/ı and İ/i; Unicode folding pairs I/i. The key makes both dotted İ
    # and dotless ı an "i", so either way of typing matches; ş stays ş.
    ("ilhan", ["6"]), ("İLHAN", ["6"]), ("ILHAN", ["6"]), ("İlhan", ["6"]),
    ("ışık", ["6"]), ("IŞIK", ["6"]), ("işık", ["6"]), ("Işık", ["6"]), ("isik", []),
])
def test_names_match_in_any_case(store: SqlStore, query: str, found: list[str]) -> None:
    assert store.find_people("acme", query) == found, query


def test_a_name_changed_outside_filebridge_is_found_by_its_new_name(store: SqlStore) -> None:
    engine = store.engine
    with engine.begin() as tx:  # a hand edit on the database
        tx.execute(sa.update(users).where(users.c.managed_by == "acme",
                                          users.c.employee_id == "3")
                   .values(last_name="Ångström"))
    with engine.connect() as conn:
        keys = conn.execute(sa.select(users.c.name_key, users.c.last_key).where(
            users.c.managed_by == "acme", users.c.employee_id == "3")).one()
    assert tuple(keys) == (None, None)  # cleared by trigger: searches read the name itself
    assert store.find_people("acme", "ÅNGSTRÖM") == ["3"]
    assert store.find_people("acme", "gström") == ["3"]
    assert store.find_people("acme", "silva") == []
    fields = ("employee_id", *PERSON_FIELDS)
    with engine.begin() as tx:  # any apply computes the cleared keys again
        store.apply_within(tx, Plan("acme", "delta", fields), 3, NOW)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(users.c.name_key).where(
            users.c.managed_by == "acme", users.c.employee_id == "3")) == "priya ångström"
    assert store.find_people("acme", "gström") == ["3"]  # now through the trigram index
    assert store.find_people("acme", "priya å") == ["3"]
    assert store.find_people("acme", "ilva") == []


def test_the_trigram_index_answers_fragments(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.execute(sa.text(
                "EXPLAIN QUERY PLAN SELECT employee_id FROM users WHERE id IN (SELECT rowid "
                "FROM users_name_fts WHERE users_name_fts MATCH '\"lva\"')")))
            assert "VIRTUAL TABLE INDEX" in plan and "users_name_fts" in plan
            return
        conn.exec_driver_sql("SET enable_seqscan = off")  # a few rows: force the choice
        plan = " ".join(r[0] for r in conn.exec_driver_sql(
            "EXPLAIN SELECT employee_id FROM users WHERE name_key LIKE '%%lva%%'"))
        assert "ix_users_name_key_trgm" in plan
    # Without pg_trgm (not installed where the store lives) fragments are still found, by
    # reading the connection's keys.
    with store.engine.begin() as tx:
        tx.exec_driver_sql("DROP INDEX ix_users_name_key_trgm")
    assert store.find_people("acme", "LVA") == ["3"] and store.find_people("acme", "zz") == []


def test_near_matches_read_people_starting_like_the_query(store: SqlStore) -> None:
    near = store.directory("acme", "Priyx Silvq")
    assert sorted(near["employee_id"]) == ["3", "4"]
    assert sorted(store.directory("acme", "zoex")["employee_id"]) == ["1", "2"]
    assert len(store.directory("acme")) == len(PEOPLE)
    assert sorted(store.directory("acme", "ÖBERx")["employee_id"]) == ["7"]


def test_lookups_use_their_indexes_and_the_snapshot_read_keeps_its_own(engine: Engine) -> None:
    """SQLite's query plans: the lookups use the indexes of migration 0006, and a read by
    connection alone (the nightly snapshot) still uses its covering index."""
    def plan(sql: str) -> str:
        with engine.connect() as conn:
            return " ".join(str(r[-1]) for r in conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_changes_former_email" in plan(
        "SELECT employee_id FROM changes WHERE connection = 'acme' AND field = 'email' AND "
        "old IN ('a', 'b')")
    assert "ix_users_last_key" in plan(
        "SELECT employee_id FROM users WHERE managed_by || '' = 'acme' AND "
        "last_key >= 'sil' AND last_key < 'silz'")
    assert "ix_users_name_key" in plan(
        "SELECT employee_id FROM users WHERE managed_by || '' = 'acme' AND "
        "name_key >= 'priya s' AND name_key < 'priya sz'")
    assert "ix_users_name_key" in plan(
        "SELECT id FROM users WHERE managed_by || '' = 'acme' AND name_key IS NULL")
    assert "ix_users_snapshot" in plan(
        "SELECT employee_id, fingerprint, active FROM users WHERE managed_by = 'acme'")
    assert "ix_users_snapshot" in plan(
        "SELECT employee_id, department_code FROM users WHERE managed_by = 'acme' AND "
        "department_code != ''")
