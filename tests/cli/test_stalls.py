"""A server that accepts the TCP connection and then never sends its SSH banner: one clear
line and exit 3 from the CLI, one ERROR line from the daemon; never paramiko's traceback."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from filebridge.daemon import Daemon, load_schedules
from filebridge.pipeline.context import open_context
from tests.cli.test_sync import pin_fixture_keys, sftp_workspace
from tests.conftest import SshServer


def _silent_workspace(tmp_path: Path, sshd: SshServer, proxy_port: int) -> Path:
    ws = sftp_workspace(tmp_path, sshd)
    known = pin_fixture_keys(ws, sshd)
    ws.write_text(ws.read_text().replace(f"port: {sshd.port}", f"port: {proxy_port}"))
    known.write_text(known.read_text().replace(f":{sshd.port}]", f":{proxy_port}]"))
    return ws


@pytest.mark.sshd
def test_banner_stall_is_one_line_and_exit_3_in_the_cli(sshd, faulty_proxy, tmp_path):
    proxy = faulty_proxy(sshd.port, "silent_at_banner")
    ws = _silent_workspace(tmp_path, sshd, proxy.port)
    done = subprocess.run([sys.executable, "-m", "filebridge.cli.main", "sync", "acme",
                           "--settings", str(ws)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    # One line says what happened, one what to do; no traceback.
    assert len(lines) == 2 and lines[0].startswith("error: ") and "banner" in lines[0], lines
    assert lines[1].startswith("next: "), lines
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.sshd
def test_banner_stall_is_one_error_line_in_the_daemon(sshd, faulty_proxy, tmp_path, caplog):
    proxy = faulty_proxy(sshd.port, "silent_at_banner")
    ws = _silent_workspace(tmp_path, sshd, proxy.port)
    (ws.parent / "schedules").mkdir()
    (ws.parent / "schedules" / "acme.yaml").write_text(
        'connection: acme\ntasks: [{task: import, cron: "0 22 * * *"}]\n')
    ctx = open_context(ws)
    caplog.set_level(logging.INFO)
    try:
        assert Daemon(ctx, load_schedules(ctx.settings)).run_task("acme", "import") == 3
    finally:
        ctx.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "banner" in errors[0].getMessage()
