"""The ledger on a real SQLite file: files, runs, recovery."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from filebridge.ledger import InvalidState, Ledger, UnknownFile, UnknownRun
from filebridge.ledger.holders import Holder, boot_id, process_start
from filebridge.ledger.schema import MIGRATIONS
from filebridge.sql import applied_migrations
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """These rules hold on SQLite and on PostgreSQL alike."""
    return request.getfixturevalue(request.param)


NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def test_migrate_is_idempotent(engine: Engine) -> None:
    assert Ledger(engine).migrate() == []
    assert applied_migrations(engine, "ledger") == [name for name, _ in MIGRATIONS]


def test_record_file_and_duplicates(engine: Engine) -> None:
    ledger = Ledger(engine)
    first = ledger.record_file("acme", "hr.csv", "ab" * 32, 10, "/spool/1", NOW)
    assert (first.state, first.duplicate_of, first.size) == ("received", None, 10)
    assert ledger.find_applied("acme", "ab" * 32) is None
    again = ledger.record_file("acme", "hr.csv", "ab" * 32, 10, "/spool/2", NOW)
    assert again.duplicate_of is None  # the first was never applied
    ledger.set_file_state(first.id, "applied")
    third = ledger.record_file("acme", "renamed.csv", "ab" * 32, 10, "/spool/3", NOW)
    assert third.duplicate_of == first.id
    assert ledger.find_applied("acme", "ab" * 32) == ledger.get_file(first.id)
    other = ledger.record_file("globex", "hr.csv", "ab" * 32, 10, "/spool/4", NOW)
    assert other.duplicate_of is None
    assert [f.id for f in ledger.files("acme")] == [third.id, again.id, first.id]
    assert len(ledger.files(limit=2)) == 2


def test_unknown_ids_and_states_are_refused(engine: Engine) -> None:
    ledger = Ledger(engine)
    with pytest.raises(UnknownFile) as caught:
        ledger.get_file(99)
    assert caught.value.location == ledger.location
    with pytest.raises(UnknownFile):
        ledger.set_file_state(99, "applied")
    with pytest.raises(UnknownRun):
        ledger.get_run(99)
    with pytest.raises(InvalidState):
        ledger.start_run("acme", "import", "yolo", None, NOW)
    run_id = ledger.start_run("acme", "import", "apply", None, NOW)
    with pytest.raises(InvalidState):
        ledger.finish_run(run_id, "done", {}, {}, None, NOW)


def test_run_lifecycle_keeps_counts_report_and_error(engine: Engine) -> None:
    ledger = Ledger(engine)
    file = ledger.record_file("acme", "hr.csv", "cd" * 32, 5, "/spool/1", NOW)
    run_id = ledger.start_run("acme", "import", "apply", file.id, NOW)
    running = ledger.get_run(run_id)
    assert (running.state, running.file_id, running.finished_at) == ("running", file.id, None)
    report = {"plan": {"creates": [{"employee_id": "1"}] * 1000}, "at": NOW}
    ledger.finish_run(
        run_id,
        "held",
        {"deactivate": 812},
        report,
        {"code": "run-held", "threshold": 50},
        NOW + timedelta(seconds=3),
    )
    done = ledger.get_run(run_id)
    assert done.state == "held" and done.counts == {"deactivate": 812}
    assert done.report == {"plan": report["plan"], "at": NOW.isoformat()}
    assert done.error == {"code": "run-held", "threshold": 50}
    assert done.finished_at is not None
    listed = ledger.runs("acme")
    assert [r.id for r in listed] == [run_id] and listed[0].report is None
    assert ledger.runs("acme", with_report=True)[0].report == done.report
    assert ledger.runs("globex") == []


def test_runs_newest_first(engine: Engine) -> None:
    ledger = Ledger(engine)
    ids = [ledger.start_run("acme", "import", "plan", None, NOW) for _ in range(5)]
    assert [r.id for r in ledger.runs(limit=3)] == ids[::-1][:3]


def test_recover_fails_runs_of_dead_processes_only(engine: Engine) -> None:
    ledger = Ledger(engine)
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(child.stdout)
    mine = ledger.start_run("acme", "import", "apply", None, NOW)
    dead = ledger.start_run("globex", "import", "apply", None, NOW)
    alive = ledger.start_run("initech", "import", "apply", None, NOW)
    host = Holder.current().host
    with engine.begin() as tx:
        from filebridge.ledger.schema import runs

        tx.execute(runs.update().where(runs.c.id == dead).values(holder=f"{host}:{dead_pid}"))
        tx.execute(runs.update().where(runs.c.id == alive).values(holder=f"{host}:1"))
    # Our own pid counts as gone: recover runs at start-up, before any run of ours.
    assert sorted(ledger.recover(NOW)) == sorted([mine, dead])
    assert ledger.get_run(dead).error == {"code": "interrupted"}
    assert ledger.get_run(dead).state == "failed"
    assert ledger.get_run(alive).state == "running"
    assert ledger.recover(NOW) == []


def test_recover_sees_through_a_reused_pid_and_a_reboot(engine: Engine) -> None:
    """PID 1 exists (it is init here), but a holder recorded with another start time or in
    another boot is a process of before: its run was interrupted."""
    ledger = Ledger(engine)
    me = Holder.current()
    reused = ledger.start_run("acme", "import", "apply", None, NOW)
    rebooted = ledger.start_run("globex", "import", "apply", None, NOW)
    living = ledger.start_run("initech", "import", "apply", None, NOW)
    init = Holder(me.host, 1, process_start(1), boot_id())
    with engine.begin() as tx:
        from filebridge.ledger.schema import runs

        tx.execute(runs.update().where(runs.c.id == reused).values(
            holder=Holder(me.host, 1, str(int(init.start) + 1), init.boot).render()))
        tx.execute(runs.update().where(runs.c.id == rebooted).values(
            holder=Holder(me.host, 1, init.start, "0" * 32).render()))
        tx.execute(runs.update().where(runs.c.id == living).values(holder=init.render()))
    assert sorted(ledger.recover(NOW)) == sorted([reused, rebooted])
    assert ledger.get_run(living).state == "running"
