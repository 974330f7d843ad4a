"""The built-in SQL store on a real SQLite file: the contract plus what only SQL promises."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from filebridge.ledger import Ledger
from filebridge.ledger.schema import MIGRATIONS as LEDGER_MIGRATIONS
from filebridge.lms import SqlStore, StalePlan
from filebridge.lms.schema import MIGRATIONS as LMS_MIGRATIONS
from filebridge.lms.schema import changes, users
from filebridge.sql import DatabaseUnavailable, applied_migrations, open_engine
from tests.lms.contract import NOW, GroupContract
from tests.lms.plans import person, plan


class GroupFingerprintsInSnapshot:
    """The built-in store reads each person's group fingerprint in the snapshot's own
    scan when the plan asks (SQLite's joined read and PostgreSQL's row read alike)."""

    def test_the_snapshot_carries_group_fingerprints_when_asked(self, store: SqlStore
                                                                 ) -> None:
        p = GroupContract.group_plan([("001", "Sales", "add")], new=[
            person("001", email="001@x.example"), person("002", email="002@x.example")])
        p.group_fingerprints = pd.DataFrame({"employee_id": ["001", "002"],
                                             "group_fingerprint": [2**63 - 1, -7]})
        assert store.apply(p, 1, NOW).failed == []
        state = store.state("acme")
        assert "group_fingerprint" not in state.snapshot()
        snap = state.snapshot(group_fingerprints=True).sort_values("employee_id")
        assert snap["group_fingerprint"].dtype == np.int64
        assert snap["group_fingerprint"].tolist() == [2**63 - 1, -7]
        assert snap["employee_id"].tolist() == ["001", "002"]


class TestSqlStoreSqlite(GroupContract, GroupFingerprintsInSnapshot):
    """``SqlStore`` over SQLite keeps the store contract."""

    @pytest.fixture
    def store(self, engine: Engine) -> SqlStore:
        return SqlStore(engine)


def _apply(engine: Engine, p: Any, run_id: int | None = 1) -> dict[str, int]:
    with engine.begin() as tx:
        return SqlStore(engine).apply_within(tx, p, run_id, NOW)


def test_migrations_are_recorded_and_idempotent(engine: Engine) -> None:
    store = SqlStore(engine)
    assert store.migrate() == []
    # Every named migration of each component, in order (later issues append their own).
    assert applied_migrations(engine, "lms") == [name for name, _ in LMS_MIGRATIONS]
    assert applied_migrations(engine, "ledger") == [name for name, _ in LEDGER_MIGRATIONS]


def test_journal_has_one_row_per_person_or_changed_field(engine: Engine) -> None:
    _apply(engine, plan(new=[person("1", email="a@x"), person("2")]), run_id=7)
    _apply(
        engine,
        plan(changed=[("1", "email", "a@x", "b@x"), ("1", "first_name", "", "Al")], leavers=["2"]),
        run_id=8,
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                changes.c.run_id,
                changes.c.employee_id,
                changes.c.action,
                changes.c.field,
                changes.c.old,
                changes.c.new,
            ).order_by(changes.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (7, "1", "create", None, None, None),
        (7, "2", "create", None, None, None),
        (8, "1", "update", "email", "a@x", "b@x"),
        (8, "1", "update", "first_name", "", "Al"),
        (8, "2", "deactivate", None, None, None),
    ]


def test_departments_and_job_titles_are_recorded_once(engine: Engine) -> None:
    store = SqlStore(engine)
    counts = _apply(
        engine,
        plan(
            new=[
                person(
                    "1",
                    department_code="D1",
                    department="Sales",
                    parent_department_code="D0",
                    job_title="Rep",
                ),
                person("2", department_code="D1", department="Sales", job_title="Rep"),
                person("3", department_code="D2", department="HR", job_title=""),
            ]
        ),
    )
    assert (counts["departments_created"], counts["job_titles_created"]) == (2, 1)
    counts = _apply(
        engine, plan(changed=[("3", "department_code", "D2", "D3"), ("3", "job_title", "", "Rep")])
    )
    assert (counts["departments_created"], counts["job_titles_created"]) == (1, 0)
    org = [r for r in store.dump() if r[0] in ("department", "job_title")]
    assert org == [
        ("department", "D1", "Sales", "D0"),
        ("department", "D2", "HR", ""),
        ("department", "D3", "HR", ""),
        ("job_title", "Rep"),
    ]


def test_departments_keyed_by_name_without_code(engine: Engine) -> None:
    fields = ("employee_id", "email", "department")
    _apply(engine, plan(new=[{"employee_id": "1", "department": "Sales"}], fields=fields))
    assert [r for r in SqlStore(engine).dump() if r[0] == "department"] == [
        ("department", "Sales", "Sales", "")
    ]


def test_dump_ignores_ids_timestamps_and_order_of_work(tmp_path: Any) -> None:
    dumps = []
    for name, order in (("a", [0, 1, 2]), ("b", [2, 0, 1])):
        engine = open_engine(f"sqlite:///{tmp_path / name / 'db.sqlite'}")
        SqlStore(engine).migrate()
        people = [person("1", custom_cost_center="C"), person("2", job_title="T"), person("3")]
        for i in order:
            _apply(engine, plan(new=[people[i]], fps=[i]))
        _apply(engine, plan(leavers=["3"]))
        dumps.append(SqlStore(engine).dump())
        engine.dispose()
    assert dumps[0] == dumps[1]
    assert ("attribute", "acme", "1", "cost_center", "C") in dumps[0]


def test_apply_and_finish_run_commit_together_or_not_at_all(engine: Engine) -> None:
    store, ledger = SqlStore(engine), Ledger(engine)
    run_id = ledger.start_run("acme", "import", "apply", None, NOW)
    before = store.dump()
    with pytest.raises(RuntimeError), engine.begin() as tx:
        store.apply_within(tx, plan(new=[person(str(i)) for i in range(100)]), run_id, NOW)
        ledger.finish_run(run_id, "applied", {"create": 100}, {"plan": {}}, None, NOW, tx=tx)
        raise RuntimeError("crash between apply and commit")
    assert store.dump() == before
    assert ledger.get_run(run_id).state == "running"
    with engine.begin() as tx:
        store.apply_within(tx, plan(new=[person(str(i)) for i in range(100)]), run_id, NOW)
        ledger.finish_run(run_id, "applied", {"create": 100}, {"plan": {}}, None, NOW, tx=tx)
    assert len(store.state("acme").snapshot()) == 100
    assert ledger.get_run(run_id).state == "applied"


def test_second_writer_fails_fast_while_first_holds_the_lock(
    state_url: str, engine: Engine
) -> None:
    other = open_engine(state_url, busy_timeout_ms=200)
    with engine.begin() as tx:
        SqlStore(engine).apply_within(tx, plan(new=[person("1")]), 1, NOW)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as caught:
            _apply(other, plan(new=[person("1")]), 2)
        assert time.monotonic() - started < 2
        # Readers are not blocked by the writer (WAL) and see the last commit only.
        assert SqlStore(other).state("acme").snapshot().empty
    assert caught.value.url == state_url and "locked" in caught.value.reason
    assert SqlStore(other).state("acme").snapshot()["employee_id"].tolist() == ["1"]
    other.dispose()


def test_second_writer_waits_then_sees_the_first_writers_work(
    state_url: str, engine: Engine
) -> None:
    other = open_engine(state_url, busy_timeout_ms=5000)
    holding = threading.Event()
    outcome: list[BaseException | dict[str, int]] = []

    def second() -> None:
        holding.wait()
        try:
            outcome.append(_apply(other, plan(new=[person("1")]), 2))
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            outcome.append(error)

    worker = threading.Thread(target=second)
    worker.start()
    with engine.begin() as tx:
        SqlStore(engine).apply_within(tx, plan(new=[person("1")]), 1, NOW)
        holding.set()
        time.sleep(0.3)
    worker.join(10)
    # The second plan was made before the first committed: it must not half-apply.
    assert len(outcome) == 1 and isinstance(outcome[0], StalePlan)
    assert len(SqlStore(other).state("acme").snapshot()) == 1
    other.dispose()


def test_creates_in_slices_store_the_same_as_in_one_go(engine: Engine, tmp_path,
                                                         monkeypatch) -> None:
    """Big creates go to the driver in slices; slice edges lose or repeat nobody."""
    import filebridge.lms.sqlwrite as sqlstore
    people = [person(f"{i:03d}", email=f"p{i}@x", custom_cost_center=f"C{i % 3}" if i % 2 else "")
              for i in range(7)]
    _apply(engine, plan(new=people))
    other = open_engine(f"sqlite:///{tmp_path / 'sliced.sqlite'}")
    SqlStore(other).migrate()
    monkeypatch.setattr(sqlstore, "CREATE_BATCH", 3)
    with other.begin() as tx:
        counts = SqlStore(other).apply_within(tx, plan(new=people), 1, NOW)
    assert counts["create"] == 7
    assert SqlStore(other).dump() == SqlStore(engine).dump()
    with other.connect() as conn:
        journal = conn.execute(sa.select(changes.c.employee_id, changes.c.action)).all()
    assert sorted(journal) == [(f"{i:03d}", "create") for i in range(7)]


@pytest.mark.postgres
class TestSqlStorePostgres(GroupContract, GroupFingerprintsInSnapshot):
    """``SqlStore`` over a real PostgreSQL server keeps the same contract."""

    @pytest.fixture
    def pg_engine(self, pg_url: str) -> Any:
        engine = open_engine(pg_url)
        SqlStore(engine).migrate()
        Ledger(engine).migrate()
        yield engine
        engine.dispose()

    @pytest.fixture
    def store(self, pg_engine: Engine) -> SqlStore:
        return SqlStore(pg_engine)


ids_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@given(st.lists(st.tuples(ids_text, st.integers(-2**63, 2**63 - 1), st.booleans(),
                          st.integers(-2**63, 2**63 - 1)),
                max_size=25, unique_by=lambda p: p[0]), st.booleans(),
       st.integers(1, 30))
@example(people=[("a\x1f1\x1f1\x1fb", 7, True, 3), ("b", -1, False, 0)], groups=True,
         chunk=1)
@example(people=[('1,"x"\n2', 2**63 - 1, True, -2**63), ("é 🙂", -2**63, False, 5)],
         groups=False, chunk=1)
@example(people=[('1,"x"\n2', 2**63 - 1, True, 2**63 - 1), ("é 🙂", -2**63, False, 0)],
         groups=True, chunk=30)
@example(people=[("", 1, True, 1), ("B", 2, False, 2), ("a", 3, True, 3), ("ä", 4, True, 4),
                 ("a ", 5, False, 5)], groups=True, chunk=2)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_joined_snapshot_reads_what_the_row_by_row_one_reads(engine: Engine, people,
                                                                  groups: bool,
                                                                  chunk: int) -> None:
    """SQLite's fast snapshot (joined values split by Arrow, ``chunk`` people at a time)
    equals the generic one for any ids: commas, quotes, line breaks, Unicode, the empty
    id, ids ordered differently as bytes and as text; every person exactly once however
    the chunks fall. An id holding the separator itself makes it step aside for the
    row-by-row read. With ``groups``, both also carry each person's group fingerprint."""
    from filebridge.lms.sqlstate import _snapshot_rows, _sqlite_snapshot
    with engine.begin() as tx:
        tx.execute(sa.delete(users))
        for eid, fp, active, group_fp in people:
            tx.execute(users.insert().values(managed_by="c", employee_id=eid, fingerprint=fp,
                                             active=active, group_fingerprint=group_fp,
                                             created_at=NOW, updated_at=NOW))
    with engine.connect() as conn:
        slow = _snapshot_rows(conn, "c", groups)
        fast = _sqlite_snapshot(conn, "c", groups, chunk)
    if not people or any("\x1f" in eid for eid, *_ in people):
        assert fast is None
        fast = SqlStore(engine).state("c").snapshot(group_fingerprints=groups)
    key = ["employee_id"]
    pd.testing.assert_frame_equal(fast.sort_values(key).reset_index(drop=True),
                                  slow.sort_values(key).reset_index(drop=True))
    columns = [slow["employee_id"], slow["fingerprint"].tolist(), slow["active"].tolist()]
    if groups:
        columns.append(slow["group_fingerprint"].tolist())
    else:
        assert "group_fingerprint" not in slow
    assert sorted(zip(*columns, strict=True)) == sorted(p if groups else p[:3] for p in people)


TRICKY_PEOPLE = [("", 1, True, -1), ("B", 2, False, 2**63 - 1), ("a", -3, True, 0),
                 ("ä", 4, True, -2**63), ("a ", 2**63 - 1, False, 5), ('1,"x"\n2', -2**63, True, 6),
                 ("é 🙂", 7, False, 7), ("10", 8, True, 8), ("9", 9, True, 9),
                 ("x" * 500, 10, False, 10)]


@pytest.mark.postgres
@pytest.mark.parametrize("chunk", [1, 3, 250_000])
def test_the_chunked_sqlite_snapshot_reads_what_postgresql_reads(
        engine: Engine, postgres_engine: Engine, chunk: int) -> None:
    """The same people stored in SQLite and in PostgreSQL read back the same: SQLite's
    joined values ``chunk`` at a time (ranges of its byte order) and PostgreSQL's rows
    (its collation orders these ids otherwise), with and without group fingerprints."""
    from filebridge.lms.sqlstate import _sqlite_snapshot
    for db in (engine, postgres_engine):
        with db.begin() as tx:
            for eid, fp, active, group_fp in TRICKY_PEOPLE:
                tx.execute(users.insert().values(managed_by="c", employee_id=eid,
                                                 fingerprint=fp, active=active,
                                                 group_fingerprint=group_fp,
                                                 created_at=NOW, updated_at=NOW))
            tx.execute(users.insert().values(managed_by="other", employee_id="a!", fingerprint=0,
                                             active=True, created_at=NOW, updated_at=NOW))
    key = ["employee_id"]
    for groups in (False, True):
        with engine.connect() as conn:
            lite = _sqlite_snapshot(conn, "c", groups, chunk)
        pg = SqlStore(postgres_engine).state("c").snapshot(group_fingerprints=groups)
        assert lite is not None and len(lite) == len(TRICKY_PEOPLE)
        pd.testing.assert_frame_equal(lite.sort_values(key).reset_index(drop=True),
                                      pg.sort_values(key).reset_index(drop=True))
