"""A task that waits long for the database's write lock says so once, naming the holder
(connection, task run, since when), and ``status`` shows it under that task."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from pathlib import Path

import pytest

from filebridge import activity
from filebridge.cli.status import render_status
from filebridge.daemon import Daemon, load_schedules
from filebridge.daemon.logs import log_context
from filebridge.daemon.status import status
from filebridge.pipeline.context import open_context
from filebridge.sql import open_engine
from tests.fleetsite import applied_counts, night_file, sqlite_engine, workspace


def test_a_long_wait_for_the_write_lock_is_logged_and_shown_by_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(activity, "LONG_WAIT", 0.5)
    [settings] = workspace(tmp_path, ["c00", "c01"], watch=False)
    name = night_file(tmp_path / "drop" / "c00", "c00", 1, 20)
    ctx = open_context(settings)
    # Another writer of this process (c01's run 41, as the daemon names it) holds the
    # store's write lock for a while when c00's import starts.
    other = open_engine(f"sqlite:///{tmp_path / 'state-0' / 'lms.sqlite'}")
    holding = threading.Event()

    def hold() -> None:
        with log_context("c01", "task-41"), other.begin() as tx:
            tx.exec_driver_sql("UPDATE task_runs SET trigger = trigger")
            holding.set()
            time.sleep(1.5)

    holder = threading.Thread(target=hold)
    try:
        holder.start()
        assert holding.wait(10)
        caplog.set_level(logging.WARNING, logger="filebridge.waits")
        assert Daemon(ctx, load_schedules(ctx.settings)).run_task("c00", "import") == 0
        holder.join()
        report = status(ctx, load_schedules(ctx.settings)).to_dict()
    finally:
        holder.join()
        ctx.close()
        other.dispose()
    assert applied_counts(sqlite_engine(tmp_path), name) == {"c00": 1}
    [line] = [r for r in caplog.records if r.name == "filebridge.waits"]
    assert "for the write lock of lms.sqlite, held by connection c01 (task-41) since " in (
        line.getMessage())
    c00 = next(c for c in report["connections"] if c["name"] == "c00")
    [task] = c00["tasks"]
    [wait] = task["waits"]
    assert wait["holder"] == "connection c01 (task-41)" and wait["obtained"]
    assert wait["lock"] == "the write lock of lms.sqlite" and wait["seconds"] >= 0.5
    out = io.StringIO()
    render_status(report, out)
    assert re.search(rf"last import \(task run {task['id']}\) waited \d+ s for the write lock "
                     r"of lms\.sqlite, held by connection c01 \(task-41\) since 20", out.getvalue())


def test_a_task_put_back_while_another_process_runs_its_connection_says_for_how_long(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activity, "LONG_WAIT", 0.5)
    [settings] = workspace(tmp_path, ["c00"], watch=False)
    name = night_file(tmp_path / "drop" / "c00", "c00", 1, 20)
    ctx = open_context(settings)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # a manual sync of c00, as another process would hold it
        with ctx.ledger.lock("c00"):
            holding.set()
            release.wait(2.0)

    holder = threading.Thread(target=hold)
    try:
        holder.start()
        assert holding.wait(10)
        daemon = Daemon(ctx, load_schedules(ctx.settings))
        daemon.enqueue("c00", "import")
        daemon.queue.wait_idle()
        daemon.queue.close()
        holder.join()
        [task] = ctx.ledger.daemon_state.latest_tasks("c00")
    finally:
        release.set()
        holder.join()
        ctx.close()
    assert applied_counts(sqlite_engine(tmp_path), name) == {"c00": 1}
    [wait] = task.waits or []
    assert wait["lock"] == "the lock of connection 'c00' (in the queue)" and wait["obtained"]
    assert wait["seconds"] >= 1.5 and "pid" in wait["holder"] and wait["since"]
