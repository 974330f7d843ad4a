"""A file with no date in its name whose content was applied before, with other files
applied since, is older data: held, saying when that content was applied and what came
after. Without anything applied since, it is a plain duplicate (nothing to do)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from filebridge.cli.main import main
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace


def apply(ws: Path, capsys: pytest.CaptureFixture[str], source: Path, name: str,
          *extra: str) -> tuple[int, dict]:
    copy = shutil.copy(source, ws.parent / name)
    code = main(["apply", "acme", str(copy), "--settings", str(ws), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_older_content_under_an_undated_name_is_held(tmp_path, capsys):
    ws = write_workspace(tmp_path / "ws")
    _, first = apply(ws, capsys, NIGHT1, "acme_export.csv")
    _, second = apply(ws, capsys, NIGHT2, "acme_export_new.csv")
    assert (first["state"], second["state"]) == ("applied", "applied")
    code, again = apply(ws, capsys, NIGHT1, "acme_export_again.csv")
    assert code == 1 and again["state"] == "held" and again["duplicate_of"] == first["file_id"]
    [hold] = again["holds"]
    assert hold["code"] == "repeated-content"
    assert f"same content as acme_export.csv, applied by run {first['run_id']}" in \
        hold["message"]
    assert f"acme_export_new.csv by run {second['run_id']}" in hold["message"]
    main(["apply", "acme", str(ws.parent / "acme_export_again.csv"), "--settings", str(ws)])
    text = capsys.readouterr().out
    assert "repeated-content" not in text and "applied by run" in text and "held:" in text


def test_the_latest_content_again_is_a_plain_duplicate(tmp_path, capsys):
    ws = write_workspace(tmp_path / "ws")
    apply(ws, capsys, NIGHT1, "acme_export.csv")
    code, again = apply(ws, capsys, NIGHT1, "acme_export_again.csv")
    assert code == 0 and again["state"] == "duplicate" and not again["holds"]
