"""The write gate: writers of one process queue in order and never see "database is
locked", however many there are and however short SQLite's own busy timeout."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from filebridge import activity
from filebridge.activity import collecting_waits
from filebridge.daemon.logs import log_context
from filebridge.sql import open_engine, reading
from filebridge.sql.gate import GateTimeout, WriteGate


def test_forty_writers_on_two_engines_of_one_file_all_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # A busy timeout far shorter than the queue: without the gate most writers would fail.
    engines = [open_engine(url, busy_timeout_ms=50), open_engine(url, busy_timeout_ms=50)]
    with engines[0].begin() as tx:
        tx.exec_driver_sql("CREATE TABLE t (writer INTEGER)")
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            with engines[i % 2].begin() as tx:
                tx.exec_driver_sql(f"INSERT INTO t VALUES ({i})")
                time.sleep(0.02)  # hold the write lock a while, as an apply does
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engines[0].connect() as conn:
        assert sorted(r[0] for r in conn.exec_driver_sql("SELECT writer FROM t")) == list(
            range(40))
    assert errors == []
    # Readers never wait for the gate: a read transaction runs while a writer holds it.
    with engines[0].begin() as tx:
        tx.exec_driver_sql("INSERT INTO t VALUES (99)")
        with reading(engines[1]) as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 40


def test_the_gate_serves_in_arrival_order_and_gives_up_after_its_share() -> None:
    gate = WriteGate(turn_seconds=0.2)
    gate.acquire()
    order: list[int] = []

    def wait(i: int) -> None:
        gate.acquire()
        order.append(i)
        gate.release()

    threads = []
    for i in range(5):
        threads.append(threading.Thread(target=wait, args=(i,)))
        threads[-1].start()
        while gate.waiting() < i + 1:
            time.sleep(0.001)
    gate.release()
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]
    gate.acquire()
    gate.acquire()  # the holder's thread passes again
    gate.release()
    failed: list[GateTimeout] = []

    def late() -> None:
        with pytest.raises(GateTimeout) as caught:
            gate.acquire()
        failed.append(caught.value)

    started = time.monotonic()
    t = threading.Thread(target=late)
    t.start()
    t.join()
    assert failed and failed[0].ahead == 1 and time.monotonic() - started >= 0.2 * 2 - 0.05
    gate.release()
    assert gate.waiting() == 0


def test_a_long_wait_is_said_once_naming_the_holder(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(activity, "LONG_WAIT", 0.4)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first, second = open_engine(url), open_engine(url)
    with first.begin() as tx:
        tx.exec_driver_sql("CREATE TABLE t (writer TEXT)")
    holding = threading.Event()

    def hold() -> None:
        with log_context("c01", "task-41"), first.begin() as tx:
            tx.exec_driver_sql("INSERT INTO t VALUES ('c01')")
            holding.set()
            time.sleep(1.2)  # a long apply

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    caplog.set_level(logging.WARNING, logger="filebridge.waits")
    with log_context("c02", "task-42"), collecting_waits() as waits:
        with second.begin() as tx:
            tx.exec_driver_sql("INSERT INTO t VALUES ('c02')")
    holder.join()
    [wait] = waits
    assert wait.lock == "the write lock of db.sqlite" and wait.obtained
    assert wait.holder == "connection c01 (task-41)" and wait.since is not None
    assert 0.6 < wait.seconds < 5
    [line] = [r.getMessage() for r in caplog.records if r.name == "filebridge.waits"]
    assert line.startswith("waited 1 s for the write lock of db.sqlite, held by connection "
                           "c01 (task-41) since "), line
    # A short wait says nothing.
    caplog.clear()
    with collecting_waits() as waits, second.begin() as tx:
        tx.exec_driver_sql("INSERT INTO t VALUES ('quick')")
    assert waits == [] and not caplog.records
