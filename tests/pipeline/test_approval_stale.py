"""Approving an old held run after a newer file was applied would put older data over
newer: approval re-runs the stale-file check, says which file is newer, and the run stays
held (exit 1) unless --stale-ok."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from filebridge.cli.main import main
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace


def cli(ws: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--settings", str(ws)])
    out, err = capsys.readouterr()
    return code, out, err


def few_rows(path: Path) -> Path:
    path.write_text("".join(NIGHT1.read_text(encoding="utf-8-sig").splitlines(True)[:6]),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("held_name, newer_name", [
    ("acme_employees_2026-11-25.csv", "acme_employees_2026-11-26.csv"),  # export times
    ("acme_few.csv", "acme_next.csv"),  # no dates: the order they were applied in
])
def test_approving_an_old_held_run_after_a_newer_file_stops(tmp_path, capsys, held_name,
                                                            newer_name):
    ws = write_workspace(tmp_path / "ws")
    assert cli(ws, capsys, "apply", "acme", str(NIGHT1))[0] == 1
    held = json.loads(cli(ws, capsys, "apply", "acme", str(few_rows(tmp_path / held_name)),
                          "--json")[1])
    assert held["state"] == "held"
    newer = shutil.copy(NIGHT2, tmp_path / newer_name)
    assert json.loads(cli(ws, capsys, "apply", "acme", str(newer), "--json")[1])["state"] \
        == "applied"
    before = json.loads(cli(ws, capsys, "users", "acme", "--json")[1])["count"]
    code, out, err = cli(ws, capsys, "approve", str(held["run_id"]), "--yes")
    assert code == 1, err
    assert newer_name in err and "stays held" in err and "--stale-ok" in err
    assert json.loads(cli(ws, capsys, "show", str(held["run_id"]), "--json")[1])["state"] \
        == "held"
    assert json.loads(cli(ws, capsys, "users", "acme", "--json")[1])["count"] == before
    code, out, _ = cli(ws, capsys, "approve", str(held["run_id"]), "--yes", "--stale-ok",
                       "--json")
    assert json.loads(out)["state"] == "applied"
    assert json.loads(cli(ws, capsys, "show", str(held["run_id"]), "--json")[1])["state"] \
        == "approved"


def test_approving_with_nothing_newer_applies(tmp_path, capsys):
    ws = write_workspace(tmp_path / "ws")
    assert cli(ws, capsys, "apply", "acme", str(NIGHT1))[0] == 1
    few = few_rows(tmp_path / "acme_employees_2026-11-25.csv")
    held = json.loads(cli(ws, capsys, "apply", "acme", str(few), "--json")[1])
    code, out, _ = cli(ws, capsys, "approve", str(held["run_id"]), "--yes", "--json")
    assert json.loads(out)["state"] == "applied"
