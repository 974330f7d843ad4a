"""`filebridge run` as a real process: --once on a local folder and a real sshd, a crash
left in processing/, and SIGTERM in the middle of a watched 30k-row import."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from filebridge.pipeline.context import open_context
from tests.conftest import SshServer
from tests.daemon.conftest import Hook, Inbox, drop, workspace
from tests.pipeline.conftest import NIGHT1, XML1
from tests.pipeline.test_crash import big_file
from tests.transports.test_sftp import sftp_config

NIGHTLY = ('connection: acme\ntasks:\n'
           '  - {task: import, cron: "0 22 * * *", timezone: Europe/Berlin}\n')


def filebridge(settings: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", *args,
                             "--settings", str(settings)], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def consistent(settings: Path) -> tuple[int, list[str]]:
    """Integrity-checked store: (acme users, run states); no run left running."""
    ctx = open_context(settings)
    try:
        db = sqlite3.connect(ctx.settings.state_dir / "lms.sqlite")
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
        db.close()
        states = [r.state for r in ctx.ledger.runs("acme")]
        assert "running" not in states
        return len(ctx.store.users("acme")), states
    finally:
        ctx.close()


@pytest.mark.sshd
def test_run_once_over_sftp_and_a_local_folder(tmp_path: Path, sshd: SshServer,
                                               smtp_server: tuple[int, Inbox],
                                               http_server: tuple[str, Hook]) -> None:
    (port, inbox), (url, hook) = smtp_server, http_server
    remote = tmp_path / "remote"
    (remote / "in").mkdir(parents=True)
    sftp = sftp_config(sshd, remote / "in", remote / "out", pattern="acme_*.csv")
    notifications = (f"notifications:\n  webhook: {{url: '{url}'}}\n  email: {{host: 127.0.0.1, "
                     f"port: {port}, security: none, from: fb@example.com, "
                     f"to: [hr@example.com], events: [rejected, failed]}}\n")
    settings = workspace(tmp_path / "ws", NIGHTLY, extra=notifications,
                         transport=json.dumps(sftp))
    (settings.parent / "schedules" / "xml.yaml").write_text(
        'connection: acme-xml\ntasks: [{task: import, cron: "0 22 * * *"}]\n')
    drop(settings, NIGHT1, "acme_employees_2026-11-24.csv", inbox=str(remote / "in"))
    drop(settings, XML1, "acme_employees_2026-11-24.xml", inbox="drop/xml")
    proc = filebridge(settings, "run", "--once", "--log-format", "json")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out  # both sample nights have rejected rows
    lines = [json.loads(line) for line in out.splitlines()]
    in_tasks = [entry for entry in lines if entry["connection"] != "-"]
    assert {entry["connection"] for entry in in_tasks} == {"acme", "acme-xml"}
    assert all(entry["run_id"].startswith("task-") for entry in in_tasks)
    assert "@acme.example" not in out  # no personal data at INFO
    # Both files applied (the same people in both: who owns them is the store's business).
    assert consistent(settings)[1] == ["applied"]
    ctx = open_context(settings)
    try:
        assert [r.state for r in ctx.ledger.runs("acme-xml")] == ["applied"]
    finally:
        ctx.close()
    assert list((remote / "in" / "archive").rglob("acme_employees_2026-11-24.csv"))
    assert sorted(b["connection"] for _, _, b in hook.posts) == ["acme", "acme-xml"]
    assert sorted(m["Subject"] for m in inbox.messages) == [
        "[filebridge] acme import: rejected", "[filebridge] acme-xml import: rejected"]


def test_files_left_in_processing_are_taken_up_again(tmp_path: Path) -> None:
    settings = workspace(tmp_path / "ws", NIGHTLY)
    (settings.parent / "drop" / "acme").mkdir(parents=True)
    first = filebridge(settings, "run", "--once")
    assert first.wait(timeout=60) == 0  # tonight's import ran (idle): nothing due any more
    drop(settings, NIGHT1, "acme_employees_2026-11-24.csv")
    # A manual sync killed right after claiming the file into processing/.
    crashed = filebridge(settings, "sync", "acme", FILEBRIDGE_FAILPOINT="after-claim:kill")
    crashed.communicate(timeout=60)
    assert crashed.returncode == -signal.SIGKILL
    assert list((settings.parent / "drop" / "acme" / "processing").iterdir())
    again = filebridge(settings, "run", "--once")
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 1, out
    assert "import started (recovery)" in out
    assert not list((settings.parent / "drop" / "acme" / "processing").iterdir())
    assert consistent(settings)[0] == 194


def _reader(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _wait_for(lines: queue.Queue[str], seen: list[str], text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} not logged within {timeout} s:\n{''.join(seen)}")


def test_sigterm_mid_run_finishes_the_run_and_exits_0(tmp_path: Path) -> None:
    settings = workspace(tmp_path / "ws", NIGHTLY + "watch: true\n")
    (settings.parent / "drop" / "acme").mkdir(parents=True)
    big = tmp_path / "big.csv"
    big_file(big, 30_000)
    proc = filebridge(settings, "run", "--heartbeat", "1")
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert proc.stdout is not None
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    try:
        _wait_for(lines, seen, "watching the inbox of acme", 30)
        alive = subprocess.run([sys.executable, "-m", "filebridge.cli.main", "status", "--json",
                                "--settings", str(settings)], capture_output=True, text=True)
        assert json.loads(alive.stdout)["daemon"]["alive"] is True
        drop(settings, big, "acme_employees_big.csv")
        _wait_for(lines, seen, "progress: map", 30)  # the watch picked it up: mid-run now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)
    while not lines.empty():
        seen.append(lines.get())
    log = "".join(seen)
    assert log.index("SIGTERM received") < log.index("import success")  # it was mid-run
    assert "stopped cleanly" in log
    users, states = consistent(settings)
    assert users == 30_000 and states.count("applied") == 1  # finished, never half-applied
    assert not list((settings.parent / "drop" / "acme" / "processing").iterdir())
    after = subprocess.run([sys.executable, "-m", "filebridge.cli.main", "status", "--json",
                            "--settings", str(settings)], capture_output=True, text=True)
    assert json.loads(after.stdout)["daemon"] == {"alive": False, "daemons": []}
