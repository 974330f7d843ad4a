"""approve, discard, undo and replay record who did them: --as NAME, else the login name."""

from __future__ import annotations

import getpass
import json

from filebridge.cli.main import main
from tests.pipeline.conftest import NIGHT1
from tests.pipeline.files import variant
from tests.pipeline.lifecycle_ws import workspace


def _history(capsys, settings: str) -> dict[int, tuple[str, str | None]]:
    main(["history", "acme", "--settings", settings, "--json"])
    doc = json.loads(capsys.readouterr().out)
    return {r["run_id"]: (r["kind"], r["actor"]) for r in doc["runs"]}


def test_cli_records_the_operator(tmp_path, capsys):
    with workspace(tmp_path / "ws", "    thresholds: {rejected_percent: 10}\n"):
        pass
    settings = str(tmp_path / "ws" / "settings.yaml")
    sales = variant(NIGHT1, tmp_path / "acme_employees_2026-11-25.csv",
                    lambda rows: [r for r in rows if r["Department"] == "Sales"])
    assert main(["apply", "acme", str(NIGHT1), "--settings", settings]) in (0, 1)
    capsys.readouterr()
    main(["apply", "acme", str(sales), "--settings", settings, "--json"])
    held = json.loads(capsys.readouterr().out)
    assert held["state"] == "held"
    assert main(["discard", str(held["run_id"]), "--as", "kim", "--settings", settings]) == 0
    main(["replay", str(held["file_id"]), "--yes", "--force", "--settings", settings])
    capsys.readouterr()
    runs = _history(capsys, settings)
    assert runs[held["run_id"] + 1] == ("discard", "kim")
    assert runs[held["run_id"] + 2] == ("replay", getpass.getuser())
    assert runs[held["run_id"]] == ("import", None)  # a file run nobody started by hand
    main(["undo", str(held["run_id"] + 2), "--yes", "--force", "--as", "ana",
          "--settings", settings])
    capsys.readouterr()
    assert _history(capsys, settings)[held["run_id"] + 3] == ("undo", "ana")
    main(["history", "acme", "--settings", settings])
    assert "kim" in capsys.readouterr().out
