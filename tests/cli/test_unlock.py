"""`unlock` and the lock in `status`: who holds a connection, and clearing a dead holder."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filebridge.cli.main import main
from filebridge.ledger.holders import Holder, boot_id, process_start
from filebridge.ledger.locks import connection_lock
from filebridge.ledger.schema import locks
from filebridge.pipeline.context import open_context
from tests.pipeline.conftest import write_workspace


def cli(ws: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--settings", str(ws)])
    out, err = capsys.readouterr()
    return code, out, err


def test_unlock_removes_a_dead_holders_lock_and_refuses_a_live_one(tmp_path, capsys):
    ws = write_workspace(tmp_path / "ws")
    assert cli(ws, capsys, "unlock", "acme")[1].strip() == "acme: not locked"
    ctx = open_context(ws)
    try:
        # A daemon that died holding the lock and whose PID (1, in its container) is taken.
        ghost = Holder(socket.gethostname(), 1, str(int(process_start(1) or 0) + 3), boot_id())
        now = datetime.now(UTC)
        with ctx.ledger.engine.begin() as tx:
            tx.execute(locks.insert().values(connection="acme", holder=ghost.render() + ":t",
                                             acquired_at=now, heartbeat_at=now))
        code, out, _ = cli(ws, capsys, "status")
        assert "lock left by pid 1 on host" in out and "filebridge unlock acme" in out
        code, out, _ = cli(ws, capsys, "unlock", "acme")
        assert code == 0 and f"removed the lock on 'acme' of pid 1 on host {ghost.host}" in out
        assert ctx.ledger.lock_state("acme") is None
        with connection_lock(ctx.ledger.engine, "acme"):
            code, out, _ = cli(ws, capsys, "status")
            assert f"running now: pid {os.getpid()} on host" in out
            code, _, err = cli(ws, capsys, "unlock", "acme")
            assert code == 3
            assert f"'acme' is locked by pid {os.getpid()} on host {socket.gethostname()}" in err
            assert "still running" in err
            assert ctx.ledger.lock_state("acme") is not None
    finally:
        ctx.close()
