"""`filebridge web add-user|passwd|remove-user|users`: passwords from stdin, never arguments."""

from __future__ import annotations

import io
import json

import pytest
from argon2 import PasswordHasher

from filebridge.cli.main import main
from filebridge.pipeline.context import open_context
from tests.pipeline.conftest import write_workspace


def run(capsys, monkeypatch, stdin: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_passwd_remove_and_list(tmp_path, capsys, monkeypatch):
    settings = str(write_workspace(tmp_path / "ws"))
    code, out, _ = run(capsys, monkeypatch, "first password\n", "web", "add-user", "ann",
                       "--role", "admin", "--settings", settings)
    assert code == 0 and "added web user ann (admin)" in out
    code, _, err = run(capsys, monkeypatch, "another one\n", "web", "add-user", "ann", "--role",
                       "viewer", "--settings", settings)
    assert code == 2 and "exists already" in err
    code, _, err = run(capsys, monkeypatch, "short\n", "web", "add-user", "bob", "--role",
                       "viewer", "--settings", settings)
    assert code == 2 and "at least 8 characters" in err
    code, out, _ = run(capsys, monkeypatch, "", "web", "--settings", settings, "users",
                       "--json")
    assert [u["name"] for u in json.loads(out)["users"]] == ["ann"]
    ctx = open_context(tmp_path / "ws" / "settings.yaml")
    try:
        accounts = ctx.ledger.web_accounts
        stored = accounts.user("ann").password_hash
        assert stored.startswith("$argon2id$") and "first password" not in stored
        assert PasswordHasher().verify(stored, "first password")
        code, out, _ = run(capsys, monkeypatch, "second password\n", "web", "passwd", "ann",
                           "--settings", settings)
        assert code == 0 and PasswordHasher().verify(accounts.user("ann").password_hash,
                                                     "second password")
        code, out, _ = run(capsys, monkeypatch, "", "web", "remove-user", "ann",
                           "--settings", settings)
        assert code == 0 and accounts.users() == []
        assert {a.action for a in accounts.actions()} == {"add-user", "passwd", "remove-user"}
        assert all(a.user.startswith("cli:") for a in accounts.actions())
    finally:
        ctx.close()
    code, _, err = run(capsys, monkeypatch, "x" * 9 + "\n", "web", "passwd", "nobody",
                       "--settings", settings)
    assert code == 2 and "no web user named 'nobody'" in err


def test_a_password_is_never_an_argument(tmp_path, capsys, monkeypatch):
    settings = str(write_workspace(tmp_path / "ws"))
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, monkeypatch, "", "web", "add-user", "ann", "--role", "admin",
            "--password", "in the shell history", "--settings", settings)
    assert exit_info.value.code == 2
