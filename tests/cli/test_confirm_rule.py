"""One rule for every command that asks before it changes something: without a terminal
and without --yes it applies nothing, says so, and exits 1 (never 0)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filebridge.cli.main import main
from filebridge.lms.schema import users
from filebridge.pipeline.context import open_context
from tests.pipeline.conftest import NIGHT1, write_workspace

CLEAN = "".join(NIGHT1.read_text(encoding="utf-8-sig").splitlines(True)[:30])  # no bad rows


def no_terminal(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filebridge.cli.main", *args, "--settings",
                           str(ws)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


def apply_json(ws: Path, capsys: pytest.CaptureFixture[str], path: Path) -> dict:
    main(["apply", "acme", str(path), "--settings", str(ws), "--json"])
    return json.loads(capsys.readouterr().out)


def test_replay_approve_and_link_exit_1_when_nothing_was_confirmed(tmp_path, capsys):
    ws = write_workspace(tmp_path / "ws")
    first = tmp_path / "acme_first.csv"
    first.write_text(CLEAN, encoding="utf-8")
    report = apply_json(ws, capsys, first)
    assert (report["state"], report["exit_code"]) == ("applied", 0)
    changed = tmp_path / "acme_changed.csv"
    changed.write_text(CLEAN.replace("Chief Executive Officer", "Chief Exec"), encoding="utf-8")
    assert apply_json(ws, capsys, changed)["counts"]["update"] == 1

    done = no_terminal(ws, "replay", str(report["file_id"]))  # would put the old title back
    assert done.returncode == 1 and "not applied" in done.stderr and "--yes" in done.stderr

    few = tmp_path / "acme_few.csv"
    few.write_text("".join(CLEAN.splitlines(True)[:4]), encoding="utf-8")
    held = apply_json(ws, capsys, few)
    assert held["state"] == "held"
    done = no_terminal(ws, "approve", str(held["run_id"]))
    assert done.returncode == 1 and "not applied" in done.stderr

    ctx = open_context(ws)
    try:
        now = datetime.now(UTC)
        with ctx.store.engine.begin() as tx:  # an LMS account made by hand, not managed
            tx.execute(users.insert().values(managed_by=None, employee_id="LMS-1",
                                             email="someone@other.example", first_name="A",
                                             last_name="B", created_at=now, updated_at=now))
    finally:
        ctx.close()
    adoptable = tmp_path / "adopt.csv"
    adoptable.write_text(CLEAN.splitlines(True)[0] + "009001,someone@other.example,A,B,"
                         "Clerk,Ops,ops,Berlin,DE,,FT,,01/01/2020,,A,CC\n", encoding="utf-8")
    done = no_terminal(ws, "link", "acme", str(adoptable))
    assert done.returncode == 1 and "not applied" in done.stderr
    assert "run " in done.stdout and "adopted 0" in done.stdout
