"""`sync`, `deliver` and `trust` as people type them: local folder and a real OpenSSH sshd."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paramiko
import pytest

from filebridge.cli.main import main
from filebridge.ledger.locks import connection_lock
from filebridge.pipeline.context import open_context
from tests.conftest import SshServer
from tests.pipeline.conftest import NIGHT1, write_workspace

LOCAL = ('{type: local, inbox: drop/acme, outbox: out/acme, pattern: "acme_*.csv", '
         'ready: {stable_seconds: 0}}')


def cli(settings: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--settings", str(settings)])
    out, err = capsys.readouterr()
    return code, out, err


def sync_json(settings: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(settings, capsys, "sync", "acme", "--json")
    assert out, err
    return code, json.loads(out)


def users(settings: Path) -> int:
    ctx = open_context(settings)
    try:
        return len(ctx.store.users("acme"))
    finally:
        ctx.close()


def test_sync_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = write_workspace(tmp_path / "ws", transport=LOCAL)
    drop = tmp_path / "ws" / "drop" / "acme"
    drop.mkdir(parents=True)
    shutil.copy(NIGHT1, drop / NIGHT1.name)
    code, report = sync_json(ws, capsys)
    assert code == 1 == report["exit_code"]  # six rows of night 1 are rejected
    assert set(report) == {"connection", "exit_code", "files", "skipped", "errors"}
    [f] = report["files"]
    assert set(f) == {"name", "state", "sha256", "run_id", "file_id", "exit_code", "counts",
                      "rejected_rows", "archived_to", "rejected_to", "reason", "recovered"}
    assert (f["state"], f["counts"]["create"], f["rejected_rows"]) == ("applied", 194, 6)
    assert Path(f["archived_to"]).is_file() and not (drop / NIGHT1.name).exists()
    shutil.copy(NIGHT1, drop / "acme_again.csv")
    code, out, _ = cli(ws, capsys, "sync", "acme")
    assert code == 0
    assert "acme_again.csv: duplicate" in out and "archived to" in out
    code, out, _ = cli(ws, capsys, "sync", "acme", "--wait", "0")
    assert (code, out.strip()) == (0, "acme: no finished file in the inbox")


def test_sync_unknown_connection_exits_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ws = write_workspace(tmp_path / "ws", transport=LOCAL)
    code, _, err = cli(ws, capsys, "sync", "nope")
    assert code == 2 and "no connection 'nope'" in err


def test_deliver_is_atomic_and_never_overwrites(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ws = write_workspace(tmp_path / "ws", transport=LOCAL)
    report = tmp_path / "completions_2026-11-25.csv"
    report.write_text("employee_id,course\n001000,safety\n", encoding="utf-8")
    code, out, _ = cli(ws, capsys, "deliver", "acme", str(report), "--json")
    outbox = tmp_path / "ws" / "out" / "acme"
    assert code == 0
    assert json.loads(out)["delivered_to"] == str(outbox / report.name)
    assert (outbox / report.name).read_bytes() == report.read_bytes()
    report.write_text("changed\n", encoding="utf-8")
    code, _, err = cli(ws, capsys, "deliver", "acme", str(report))
    assert code == 2 and "already exists" in err
    assert sorted(p.name for p in outbox.iterdir()) == [report.name]  # no .part left
    assert (outbox / report.name).read_text().startswith("employee_id")


# --- SFTP on a real OpenSSH server ----------------------------------------------------
def sftp_workspace(root: Path, server: SshServer, known_hosts: str = "known_hosts/acme") -> Path:
    remote = root / "remote"
    for folder in ("inbox", "outbox"):
        (remote / folder).mkdir(parents=True, exist_ok=True)
    transport = (
        f'{{type: sftp, host: "{server.host}", port: {server.port}, '
        f'username: "{server.user}", private_key: "{server.ed25519_key}", '
        f'known_hosts: "{known_hosts}", inbox: "{remote / "inbox"}", '
        f'outbox: "{remote / "outbox"}", pattern: "acme_*.csv", ready: {{stable_seconds: 0}}, '
        "timeouts: {connect: 3, banner: 3, auth: 5, channel: 3, read: 5, stall: 5}}")
    return write_workspace(root / "ws", transport=transport)


def pin_fixture_keys(ws: Path, server: SshServer) -> Path:
    known = ws.parent / "known_hosts" / "acme"
    known.parent.mkdir(exist_ok=True)
    shutil.copy(server.known_hosts, known)
    return known


@pytest.mark.sshd
def test_sftp_sync_end_to_end(sshd: SshServer, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    ws = sftp_workspace(tmp_path, sshd)
    pin_fixture_keys(ws, sshd)
    inbox = tmp_path / "remote" / "inbox"
    shutil.copy(NIGHT1, inbox / NIGHT1.name)  # the server's inbox is this folder
    code, report = sync_json(ws, capsys)
    assert code == 1, report
    [f] = report["files"]
    today = datetime.now(UTC)
    archived = inbox / "archive" / f"{today:%Y}" / f"{today:%m}" / f"{today:%d}" / NIGHT1.name
    assert (f["state"], f["archived_to"]) == ("applied", str(archived))
    assert archived.read_bytes() == NIGHT1.read_bytes()
    assert not (inbox / NIGHT1.name).exists() and not list((inbox / "processing").iterdir())
    assert users(ws) == 194


@pytest.mark.sshd
def test_trust_pins_only_when_confirmed_then_sync_works(
        sshd: SshServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = sftp_workspace(tmp_path, sshd)
    shutil.copy(NIGHT1, tmp_path / "remote" / "inbox" / NIGHT1.name)
    known = tmp_path / "ws" / "known_hosts" / "acme"
    code, _, err = cli(ws, capsys, "sync", "acme")
    assert code == 2 and "known_hosts" in err and "filebridge trust" in err, err
    known.parent.mkdir()
    known.touch()  # configured, but nothing pinned yet
    code, _, err = cli(ws, capsys, "sync", "acme")
    offered = [fp for fp in sshd.host_fingerprints.values() if fp in err]
    assert code == 2 and offered and "filebridge trust" in err, err
    assert known.read_text() == "" and users(ws) == 0
    # No terminal and no --yes: shown, never pinned.
    code, out, _ = cli(ws, capsys, "trust", "acme")
    assert code == 1 and offered[0] in out and known.read_text() == ""
    code, out, _ = cli(ws, capsys, "trust", "acme", "--yes", "--json")
    result = json.loads(out)
    assert code == 0 and (result["state"], result["fingerprint"]) == ("pinned", offered[0])
    assert f"[{sshd.host}]:{sshd.port} " in known.read_text()
    code, out, _ = cli(ws, capsys, "trust", "acme")
    assert code == 0 and "already pinned" in out
    code, report = sync_json(ws, capsys)
    assert code == 1 and report["files"][0]["state"] == "applied"


@pytest.mark.sshd
def test_trust_refuses_a_changed_key_without_replace(
        sshd: SshServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = sftp_workspace(tmp_path, sshd)
    known = tmp_path / "ws" / "known_hosts" / "acme"
    known.parent.mkdir()
    impostor = paramiko.PKey.from_path(sshd.wrong_key)  # an ed25519 key, not the server's
    known.write_text(f"[{sshd.host}]:{sshd.port} {impostor.get_name()} "
                     f"{impostor.get_base64()}\n")
    code, out, err = cli(ws, capsys, "trust", "acme", "--yes")
    assert code == 2 and "CHANGED" in err and "--replace" in err
    assert "WARNING" in out and impostor.fingerprint in out
    assert impostor.get_base64() in known.read_text()  # untouched
    code, out, _ = cli(ws, capsys, "trust", "acme", "--yes", "--replace")
    assert code == 0 and impostor.get_base64() not in known.read_text()


@pytest.mark.sshd
def test_sftp_deliver_refuses_to_overwrite(sshd: SshServer, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ws = sftp_workspace(tmp_path, sshd)
    pin_fixture_keys(ws, sshd)
    report = tmp_path / "completions.csv"
    report.write_text("employee_id,course\n001000,safety\n", encoding="utf-8")
    code, out, _ = cli(ws, capsys, "deliver", "acme", str(report))
    outbox = tmp_path / "remote" / "outbox"
    assert code == 0 and (outbox / report.name).read_bytes() == report.read_bytes()
    code, _, err = cli(ws, capsys, "deliver", "acme", str(report))
    assert code == 2 and "exists" in err
    assert sorted(p.name for p in outbox.iterdir()) == [report.name]


def test_deliver_refuses_while_another_run_holds_the_connection(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A manual delivery takes the connection's lock, like an export: never interleaved."""
    ws = write_workspace(tmp_path / "ws", transport=LOCAL)
    report = tmp_path / "c.csv"
    report.write_text("employee_id,course\n001000,safety\n", encoding="utf-8")
    ctx = open_context(ws)
    try:
        with connection_lock(ctx.ledger.engine, "acme"):
            code, _, err = cli(ws, capsys, "deliver", "acme", str(report))
    finally:
        ctx.close()
    assert code == 3 and "acme" in err
    assert not (tmp_path / "ws" / "out" / "acme" / "c.csv").exists()
    assert cli(ws, capsys, "deliver", "acme", str(report))[0] == 0


@pytest.mark.sshd
def test_status_reflects_a_failed_manual_sync(sshd: SshServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A manual sync is an import attempt like the daemon's: after a good one status says
    Connected, after one refused for a changed host key it no longer does."""
    ws = sftp_workspace(tmp_path, sshd)
    known = pin_fixture_keys(ws, sshd)
    shutil.copy(NIGHT1, tmp_path / "remote" / "inbox" / NIGHT1.name)
    assert cli(ws, capsys, "sync", "acme")[0] == 1
    code, out, _ = cli(ws, capsys, "status", "--json")
    acme = next(c for c in json.loads(out)["connections"] if c["name"] == "acme")
    assert acme["status_text"] == "Connected"
    impostor = paramiko.PKey.from_path(sshd.wrong_key)
    known.write_text(f"[{sshd.host}]:{sshd.port} {impostor.get_name()} "
                     f"{impostor.get_base64()}\n")
    code, _, err = cli(ws, capsys, "sync", "acme")
    assert code in (2, 3) and "host key" in err.lower()
    code, out, _ = cli(ws, capsys, "status")
    assert "acme: Connected" not in out
    assert "acme: Error: " in out or "acme: Connection error: " in out
    assert "host key" in out.lower()
    [task] = [t for c in json.loads(cli(ws, capsys, "status", "--json")[1])["connections"]
              if c["name"] == "acme" for t in c["tasks"]]
    assert task["trigger"] == "manual" and task["outcome"] == "failed"
