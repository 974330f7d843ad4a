"""Many customers on one SQLite store: 30 connections, each with its own inbox and the
same department codes, through ``run --once`` and through a watching daemon, two nights
each. Every night's file is applied exactly once per connection, and nothing is left
dangling: no run ``running``, no lock row, no task without an outcome. Then failures are
injected at each step of a run under concurrency and the same holds. A daemon watching a
hundred inboxes holds a small, fixed number of threads."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filebridge.daemon import Daemon, load_schedules
from filebridge.pipeline.context import open_context
from tests.fleetsite import (
    applied_counts,
    dangling,
    drop_night,
    sqlite_engine,
    thread_count,
    workspace,
)

CONNECTIONS = [f"c{n:02d}" for n in range(30)]
# 30 connections × 500 rows, two nights: what is tested is the contention of 30 runs
# (4 at a time, their writes queued on one SQLite file), each a real import.
ROWS = 500
THREAD_BOUND = 24  # main, scheduler, heartbeat, workers, the one watch thread, lock beats


def cli(settings: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", *args,
                             "--settings", str(settings)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def start_daemon(root: Path, settings: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A watching daemon, returned once its watches are up, and its log file."""
    log = root / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", "run",
                                   "--heartbeat", "1", "--settings", str(settings)],
                                  stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "daemon started" not in log.read_text():
        assert daemon.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.1)
    return daemon, log


def stop_daemon(daemon: subprocess.Popen[bytes], log: Path) -> str:
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=120)
    text = log.read_text()
    assert daemon.returncode == 0, text[-3000:]
    return text


def test_thirty_connections_through_run_once_two_nights(tmp_path: Path) -> None:
    [settings] = workspace(tmp_path, CONNECTIONS, watch=False)
    for night in (1, 2):
        name = drop_night(tmp_path, CONNECTIONS, night, ROWS)
        # --now: the second night runs at once instead of at the next cron minute.
        proc = cli(settings, "run", "--once", "--now", "--retry-for", "120")
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        assert "database is locked" not in out and "UNIQUE" not in out
        assert f"all {len(CONNECTIONS)} connection(s) completed" in out
        engine = sqlite_engine(tmp_path)
        assert applied_counts(engine, name) == {c: 1 for c in CONNECTIONS}
        assert dangling(engine) == (0, 0, 0)
        engine.dispose()


def test_thirty_connections_through_the_daemon_two_nights(tmp_path: Path) -> None:
    [settings] = workspace(tmp_path, CONNECTIONS, watch=True)
    engine = sqlite_engine(tmp_path)
    daemon, log = start_daemon(tmp_path, settings)
    try:
        for night in (1, 2):
            name = drop_night(tmp_path, CONNECTIONS, night, ROWS)
            deadline = time.monotonic() + 300
            while len(applied_counts(engine, name)) < len(CONNECTIONS):
                assert time.monotonic() < deadline, applied_counts(engine, name)
                assert daemon.poll() is None
                time.sleep(0.3)
            assert applied_counts(engine, name) == {c: 1 for c in CONNECTIONS}
    finally:
        text = stop_daemon(daemon, log)
    assert "database is locked" not in text and "UNIQUE" not in text
    assert dangling(engine) == (0, 0, 0)
    engine.dispose()


def test_a_hundred_watched_inboxes_hold_a_few_threads(tmp_path: Path) -> None:
    connections = [f"c{n:03d}" for n in range(100)]
    [settings] = workspace(tmp_path, connections, watch=True)
    engine = sqlite_engine(tmp_path)
    daemon, log = start_daemon(tmp_path, settings)
    try:
        idle = thread_count(daemon.pid)
        name = drop_night(tmp_path, connections[::10], 1, 20)  # events reach every watch
        deadline = time.monotonic() + 120
        while len(applied_counts(engine, name)) < 10:
            assert time.monotonic() < deadline, applied_counts(engine, name)
            time.sleep(0.2)
        busy = thread_count(daemon.pid)
    finally:
        stop_daemon(daemon, log)
    engine.dispose()
    assert idle <= THREAD_BOUND and busy <= THREAD_BOUND, (idle, busy)


POINTS = ["after-claim", "after-spool", "mid-apply", "after-lms-changes", "before-commit",
          "after-commit", "after-import-before-archive"]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("action", ["raise", "transient"])
def test_failures_at_each_step_leave_nothing_dangling(tmp_path: Path, point: str, action: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    connections = CONNECTIONS[:6]
    [settings] = workspace(tmp_path, connections, watch=False, cron="*/1 * * * *")
    name = drop_night(tmp_path, connections, 1, 50)
    engine = sqlite_engine(tmp_path)
    # The first three runs that reach the point fail there, side by side with the others.
    monkeypatch.setenv("FILEBRIDGE_FAILPOINT", f"{point}:{action}:3")
    ctx = open_context(settings)
    try:
        Daemon(ctx, load_schedules(ctx.settings), lock_wait=5).run_once()
    finally:
        ctx.close()
    assert dangling(engine) == (0, 0, 0)
    with engine.connect() as conn:
        failed = conn.exec_driver_sql("SELECT error FROM runs WHERE state = 'failed'").all()
    assert all(e and "injected" in e for (e,) in failed), failed
    monkeypatch.delenv("FILEBRIDGE_FAILPOINT")
    ctx = open_context(settings)
    try:
        assert Daemon(ctx, load_schedules(ctx.settings)).run_once() == 0
    finally:
        ctx.close()
    assert applied_counts(engine, name) == {c: 1 for c in connections}
    assert dangling(engine) == (0, 0, 0)
    engine.dispose()
