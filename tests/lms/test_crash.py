"""SIGKILL a real process in the middle of an apply: the store is exactly before or after.

A crash at any moment of an apply, then a plain rerun, must leave the store exactly as
one clean run would (and SQLite's integrity check clean). The seed is printed on failure;
rerun one with ``FILEBRIDGE_CRASH_SEED=<seed>``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from filebridge.ledger import Ledger
from filebridge.lms import SqlStore
from filebridge.lms.sqlwrite import BULK_REBUILD
from filebridge.sql import open_engine
from tests.lms.contract import NOW
from tests.lms.crash_child import big_plan
from tests.lms.plans import person, plan

ROOT = Path(__file__).resolve().parents[2]
ROWS = 50_000
ROUNDS = 4


def _fresh(folder: Path) -> tuple[str, int]:
    """A state database with two people and a running run; returns its URL and run id."""
    url = f"sqlite:///{folder / 'state.db'}"
    engine = open_engine(url)
    store, ledger = SqlStore(engine), Ledger(engine)
    store.migrate()
    ledger.migrate()
    with engine.begin() as tx:
        store.apply_within(tx, plan(new=[person("old1", email="o1@x"), person("old2")]), None, NOW)
    run_id = ledger.start_run("acme", "import", "apply", None, NOW)
    engine.dispose()
    return url, run_id


def _clean_run(folder: Path) -> tuple[list[tuple], float]:
    """The dump after one uninterrupted apply, and how long the transaction took."""
    url, run_id = _fresh(folder)
    engine = open_engine(url)
    the_plan = big_plan(ROWS)
    started = time.monotonic()
    with engine.begin() as tx:
        SqlStore(engine).apply_within(tx, the_plan, run_id, NOW)
    seconds = time.monotonic() - started
    dump = SqlStore(engine).dump()
    engine.dispose()
    return dump, seconds


@pytest.mark.slow
def test_sigkill_mid_apply_leaves_before_or_after(tmp_path: Path) -> None:
    seed = int(os.environ.get("FILEBRIDGE_CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    after, apply_seconds = _clean_run(tmp_path / "clean")
    outcomes = []
    for round_no in range(ROUNDS):
        url, run_id = _fresh(tmp_path / f"round{round_no}")
        engine = open_engine(url)
        before = SqlStore(engine).dump()
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/lms/crash_child.py"), url, str(ROWS), str(run_id)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "begun", f"seed={seed}"
        # Mostly inside the transaction, sometimes just after the commit.
        delay = rng.uniform(0, apply_seconds * 1.15)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        committed = "committed" in child.stdout.read()
        context = f"seed={seed} round={round_no} delay={delay:.3f}s committed={committed}"

        store, ledger = SqlStore(engine), Ledger(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok", context
        now = store.dump()
        assert now in (before, after), context
        ledger.recover(NOW)
        state = ledger.get_run(run_id).state
        # The ledger's mark and the LMS changes are one transaction: they agree.
        assert (state == "applied") == (now == after), context
        if now == before:
            assert state == "failed" and ledger.get_run(run_id).error == {"code": "interrupted"}
            retry = ledger.start_run("acme", "import", "apply", None, NOW)
            with engine.begin() as tx:
                store.apply_within(tx, big_plan(ROWS), retry, NOW)
                ledger.finish_run(retry, "applied", {}, {}, None, NOW, tx=tx)
            assert store.dump() == after, context
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT count(*) FROM changes")).scalar()
        assert rows == 2 + ROWS + 2, context  # journal: 2 setup + creates + update + leaver
        outcomes.append(now == before)
        engine.dispose()
    print(f"seed={seed} killed-before-commit={outcomes}")


def _schema(engine) -> list[tuple]:  # noqa: ANN001 - an Engine
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"))


def test_sigkill_inside_a_bulk_create_leaves_store_indexes_and_triggers_as_before(
        tmp_path: Path) -> None:
    # Killed while the big create runs with its indexes and the attribute trigger set
    # aside: the store, its indexes and its triggers are all as before the apply.
    rows = BULK_REBUILD + 10
    url, run_id = _fresh(tmp_path)
    engine = open_engine(url)
    before, schema = SqlStore(engine).dump(), _schema(engine)
    child = subprocess.run(
        [sys.executable, str(ROOT / "tests/lms/crash_child.py"), url, str(rows), str(run_id)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "FILEBRIDGE_FAILPOINT": "mid-create:kill"})
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.split() == ["begun"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert SqlStore(engine).dump() == before
    assert _schema(engine) == schema
    with engine.begin() as tx:
        SqlStore(engine).apply_within(tx, big_plan(rows), run_id, NOW)
    assert _schema(engine) == schema
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 2 + rows
    engine.dispose()
