"""Many customers on one SQLite store: 30 connections, each with its own inbox and the
same department codes, through ``run --once`` and through a watching daemon, two nights
each. Every night's file is applied exactly once per connection, and nothing is left
dangling: no run ``running``, no lock row, no task without an outcome. Then failures are
injected at each step of a run under concurrency and the same holds."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filebridge.daemon import Daemon, load_schedules
from filebridge.pipeline.context import open_context
from tests.pipeline.conftest import REPO

CONNECTIONS = [f"c{n:02d}" for n in range(30)]
ROWS = 500
HEADER = ("Employee ID,Work Email,First Name,Last Name,Job Title,Department,Dept Code,"
          "Location,Country,Phone,Type,Manager ID,Hire Date,Termination Date,Status,"
          "Cost Center\n")


def night_file(folder: Path, connection: str, night: int, rows: int = ROWS) -> str:
    """Night ``night`` of ``connection``: the same department codes in every connection."""
    name = f"hr_2026-12-{night:02d}.csv"
    body = "".join(
        f"{connection}-{i:04d},p{i}.{connection}@acme.example,Pat,Doe{i},"
        f"Title night {night},Sales,SALES{i % 3},Berlin,DE,+49 1,FT,,01/01/2020,,A,CC\n"
        for i in range(rows))
    part = folder / f".{name}.tmp"
    part.write_text(HEADER + body, encoding="utf-8")
    os.replace(part, folder / name)
    return name


def workspace(root: Path, connections: list[str], watch: bool = False) -> Path:
    (root / "mappings").mkdir(parents=True)
    (root / "schedules").mkdir()
    shutil.copy(REPO / "mappings" / "acme.yaml", root / "mappings" / "shared.yaml")
    blocks = []
    for c in connections:
        (root / "drop" / c).mkdir(parents=True)
        blocks.append(f"  {c}:\n    import_mapping: mappings/shared.yaml\n"
                      f"    transport: {{type: local, inbox: drop/{c}, pattern: 'hr_*.csv', "
                      "ready: {stable_seconds: 0}}\n")
        (root / "schedules" / f"{c}.yaml").write_text(
            f"connection: {c}\nwatch: {'true' if watch else 'false'}\n"
            'tasks: [{task: import, cron: "*/1 * * * *"}]\n')
    settings = root / "settings.yaml"
    settings.write_text("state_dir: state\nlms:\n  url: sqlite:///{state_dir}/lms.sqlite\n"
                        "connections:\n" + "".join(blocks), encoding="utf-8")
    return settings


def applied(settings: Path, name: str) -> dict[str, int]:
    """Per connection, how many runs applied a file called ``name``."""
    with sqlite3.connect(settings.parent / "state" / "lms.sqlite") as db:
        rows = db.execute(
            "SELECT r.connection, count(*) FROM runs r JOIN files f ON f.id = r.file_id "
            "WHERE f.name = ? AND r.state = 'applied' GROUP BY r.connection", (name,)).fetchall()
    return dict(rows)


def dangling(settings: Path) -> tuple[int, int, int]:
    """Runs still ``running``, lock rows, task records without an outcome."""
    with sqlite3.connect(settings.parent / "state" / "lms.sqlite") as db:
        runs = db.execute("SELECT count(*) FROM runs WHERE state = 'running'").fetchone()[0]
        locks = db.execute("SELECT count(*) FROM locks").fetchone()[0]
        tasks = db.execute("SELECT count(*) FROM task_runs WHERE finished_at IS NULL"
                           ).fetchone()[0]
    return runs, locks, tasks


def cli(settings: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", *args,
                             "--settings", str(settings)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_thirty_connections_through_run_once_two_nights(tmp_path: Path) -> None:
    settings = workspace(tmp_path, CONNECTIONS)
    for night in (1, 2):
        if night == 2:  # the next cron minute: every import is due again
            time.sleep(61 - time.time() % 60)
        name = {night_file(tmp_path / "drop" / c, c, night) for c in CONNECTIONS}.pop()
        proc = cli(settings, "run", "--once", "--retry-for", "120")
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        assert "database is locked" not in out and "UNIQUE" not in out
        assert f"all {len(CONNECTIONS)} connection(s) completed" in out
        assert applied(settings, name) == {c: 1 for c in CONNECTIONS}
        assert dangling(settings) == (0, 0, 0)


def test_thirty_connections_through_the_daemon_two_nights(tmp_path: Path) -> None:
    settings = workspace(tmp_path, CONNECTIONS, watch=True)
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", "run",
                                   "--heartbeat", "1", "--settings", str(settings)],
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "state" / "lms.sqlite").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # the watches start after the missed-run pass
        for night in (1, 2):
            name = {night_file(tmp_path / "drop" / c, c, night) for c in CONNECTIONS}.pop()
            deadline = time.monotonic() + 300
            while len(applied(settings, name)) < len(CONNECTIONS):
                assert time.monotonic() < deadline, applied(settings, name)
                assert daemon.poll() is None
                time.sleep(0.5)
            assert applied(settings, name) == {c: 1 for c in CONNECTIONS}
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
    text = log.read_text()
    assert daemon.returncode == 0, text[-3000:]
    assert "database is locked" not in text and "UNIQUE" not in text
    assert dangling(settings) == (0, 0, 0)


POINTS = ["after-claim", "after-spool", "mid-apply", "after-lms-changes", "before-commit",
          "after-commit", "after-import-before-archive"]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("action", ["raise", "transient"])
def test_failures_at_each_step_leave_nothing_dangling(tmp_path: Path, point: str, action: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    connections = CONNECTIONS[:6]
    settings = workspace(tmp_path, connections)
    name = {night_file(tmp_path / "drop" / c, c, 1, rows=50) for c in connections}.pop()
    # The first three runs that reach the point fail there, side by side with the others.
    monkeypatch.setenv("FILEBRIDGE_FAILPOINT", f"{point}:{action}:3")
    ctx = open_context(settings)
    try:
        Daemon(ctx, load_schedules(ctx.settings), lock_wait=5).run_once()
    finally:
        ctx.close()
    assert dangling(settings) == (0, 0, 0)
    with sqlite3.connect(tmp_path / "state" / "lms.sqlite") as db:
        failed = db.execute("SELECT error FROM runs WHERE state = 'failed'").fetchall()
    assert all(e and "injected" in e for (e,) in failed), failed
    monkeypatch.delenv("FILEBRIDGE_FAILPOINT")
    ctx = open_context(settings)
    try:
        assert Daemon(ctx, load_schedules(ctx.settings)).run_once() == 0
    finally:
        ctx.close()
    assert applied(settings, name) == {c: 1 for c in connections}
    assert dangling(settings) == (0, 0, 0)
