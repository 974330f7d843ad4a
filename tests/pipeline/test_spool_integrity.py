"""Replays and approvals apply the spooled copy: its bytes are checked against the sha256
the ledger recorded, and a spool others can write to is refused, before anything applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filebridge.cli.main import main
from tests.pipeline.conftest import NIGHT1, write_workspace


def cli(ws: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--settings", str(ws)])
    out, err = capsys.readouterr()
    return code, out, err


def applied_runs(ws: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    runs = json.loads(cli(ws, capsys, "history", "--json")[1])["runs"]
    return [r for r in runs if r["state"] == "applied"]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws")


def _tamper(spool: Path) -> None:
    with spool.open("a", encoding="utf-8") as fh:
        fh.write("009999,mallory@evil.example,Mal,Lory,Admin,Ops,ops,Berlin,DE,,FT,,"
                 "01/01/2020,,A,CC\n")


def test_replay_refuses_a_tampered_spool_copy(ws, capsys):
    code, out, _ = cli(ws, capsys, "apply", "acme", str(NIGHT1), "--json")
    report = json.loads(out)
    spool = next((ws.parent / "state" / "spool" / "acme").glob(f"{report['sha256']}*"))
    _tamper(spool)
    code, out, err = cli(ws, capsys, "replay", str(report["file_id"]), "--yes")
    assert code == 2 and "spooled copy changed" in err and report["sha256"] in err
    assert len(applied_runs(ws, capsys)) == 1
    users = json.loads(cli(ws, capsys, "users", "acme", "--json")[1])["users"]
    assert "mallory@evil.example" not in {u["email"] for u in users}


def test_approve_refuses_a_tampered_spool_copy(ws, capsys, tmp_path):
    assert cli(ws, capsys, "apply", "acme", str(NIGHT1))[0] == 1
    few = tmp_path / "acme_employees_2026-11-25.csv"
    few.write_text("".join(NIGHT1.read_text(encoding="utf-8-sig").splitlines(True)[:6]),
                   encoding="utf-8")
    code, out, _ = cli(ws, capsys, "apply", "acme", str(few), "--json")
    held = json.loads(out)
    assert held["state"] == "held"
    spool = next((ws.parent / "state" / "spool" / "acme").glob(f"{held['sha256']}*"))
    _tamper(spool)
    code, _, err = cli(ws, capsys, "approve", str(held["run_id"]), "--yes")
    assert code == 2 and "spooled copy changed" in err
    shown = json.loads(cli(ws, capsys, "show", str(held["run_id"]), "--json")[1])
    assert shown["state"] == "held" and len(applied_runs(ws, capsys)) == 1


def test_a_spool_others_can_write_is_refused(ws, capsys):
    code, out, _ = cli(ws, capsys, "apply", "acme", str(NIGHT1), "--json")
    report = json.loads(out)
    folder = ws.parent / "state" / "spool" / "acme"
    assert folder.stat().st_mode & 0o077 == 0  # created private
    folder.chmod(0o770)
    code, _, err = cli(ws, capsys, "replay", str(report["file_id"]), "--yes")
    assert code == 2 and f"{folder}: the spool folder is writable by other users" in err
    assert "chmod go-w" in err
    code, _, err = cli(ws, capsys, "apply", "acme", str(NIGHT1))
    assert code == 2 and "writable by other users" in err
