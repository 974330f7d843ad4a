"""Every command: help text, README section, --json keys and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from filebridge.cli.main import COMMANDS, build_parser, main
from tests.pipeline.conftest import NIGHT1, NIGHT2, REPO, write_workspace


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, _ = run(capsys, *argv, "--json")
    return code, json.loads(out)


@pytest.fixture
def ws(tmp_path) -> str:
    return str(write_workspace(tmp_path / "ws"))


def test_every_command_has_help_and_a_description():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {c.dest: c.help for c in sub._choices_actions}
    for module in COMMANDS:
        assert helps.get(module.NAME), f"{module.NAME} has no help line"
        assert module.__doc__ and len(module.__doc__) > 40, f"{module.NAME} has no description"


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [m.NAME for m in COMMANDS if f"filebridge {m.NAME}" not in readme]
    assert not missing, f"README lacks a section or table row for: {missing}"


def test_check_ok_and_bad_mapping_names_file_line_and_key(capsys, tmp_path, ws):
    assert run(capsys, "check", "--settings", ws)[0] == 0
    mapping = Path(ws).parent / "mappings" / "acme.yaml"
    text = mapping.read_text(encoding="utf-8").replace("transform: [trim, lower]",
                                                       "transform: [trim, lowr]")
    mapping.write_text(text, encoding="utf-8")
    code, out, _ = run(capsys, "check", "--settings", ws)
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "lowr" in ln)
    assert code == 2
    assert f"mappings/acme.yaml:{line}: fields.email.transform[1]: 'lowr'" in out
    code, doc = run_json(capsys, "check", "--settings", ws)
    assert code == 2 and doc["ok"] is False
    assert {"file", "line", "key", "message"} <= set(doc["problems"][0])


def test_validate_lists_rejected_rows_and_changes_nothing(capsys, ws):
    code, doc = run_json(capsys, "validate", "acme", str(NIGHT1), "--settings", ws)
    assert code == 1 and doc["valid"] is False and doc["rejected_rows"] == 6
    assert {"connection", "file", "rows", "problems", "warnings", "exit_code"} <= set(doc)
    assert {p["code"] for p in doc["problems"]} == {"missing-email", "duplicate-email",
                                                   "manager-cycle"}
    code, out, _ = run(capsys, "validate", "acme", str(NIGHT1), "--settings", ws)
    assert "acme_employees_2026-11-24.csv:42: Work Email: required field email is blank" in out
    assert run_json(capsys, "users", "acme", "--settings", ws)[1]["count"] == 0


def test_plan_apply_history_show_users_replay(capsys, ws):
    code, plan = run_json(capsys, "plan", "acme", str(NIGHT1), "--settings", ws)
    assert code == 1 and plan["state"] == "planned" and plan["counts"]["create"] == 194
    expected_keys = {"run_id", "connection", "file", "file_id", "sha256", "mode", "state",
                     "exit_code", "rows", "rejected_rows", "counts", "plan", "problems",
                     "problems_dropped", "warnings", "holds", "reject_file", "duplicate_of",
                     "error", "timings", "state_location", "export_time", "about_run",
                     "refused"}
    assert set(plan) == expected_keys
    code, applied = run_json(capsys, "apply", "acme", str(NIGHT1), "--settings", ws)
    assert code == 1 and applied["state"] == "applied"
    code, again = run_json(capsys, "apply", "acme", str(NIGHT1), "--settings", ws)
    assert code == 0 and again["state"] == "duplicate"
    code, out, _ = run(capsys, "plan", "acme", str(NIGHT2), "--settings", ws)
    assert "Deactivate (3)" in out and "Staff Engineer" in out and "001030" in out
    code, hist = run_json(capsys, "history", "--settings", ws)
    assert code == 0 and [r["state"] for r in hist["runs"]] == ["planned", "noop", "applied",
                                                               "planned"]
    code, shown = run_json(capsys, "show", str(applied["run_id"]), "--settings", ws)
    assert shown["report"]["counts"]["create"] == 194 and shown["state"] == "applied"
    code, users = run_json(capsys, "users", "acme", "--active", "--settings", ws)
    assert users["count"] == 194 and "email" in users["users"][0]
    assert {(u["status"], u["active"]) for u in users["users"]} == {("active", True)}
    code, replay = run_json(capsys, "replay", str(applied["file_id"]), "--yes", "--settings", ws)
    assert replay["state"] == "applied" and replay["counts"]["create"] == 0
    assert run(capsys, "apply", "acme", str(NIGHT2), "--settings", ws)[0] in (0, 1)
    code, gone = run_json(capsys, "users", "acme", "--inactive", "--settings", ws)
    assert gone["count"] == 3
    assert {(u["status"], u["active"]) for u in gone["users"]} == {("inactive", False)}


def test_unknown_connection_and_missing_file_exit_2(capsys, ws):
    code, _, err = run(capsys, "plan", "nope", str(NIGHT1), "--settings", ws)
    assert code == 2 and "no connection 'nope'" in err and "acme" in err
    code, _, err = run(capsys, "apply", "acme", "/nonexistent.csv", "--settings", ws)
    assert code == 2 and "no such file" in err


def test_bad_settings_file_names_file_and_line(capsys, tmp_path):
    bad = tmp_path / "settings.yaml"
    bad.write_text("state_dir: var\nconectionz: {}\n", encoding="utf-8")
    code, _, err = run(capsys, "history", "--settings", str(bad))
    assert code == 2 and "settings.yaml:2" in err and "conectionz" in err


def test_demo_runs_on_the_repository_samples(capsys, tmp_path):
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    shutil.copy(REPO / "settings.yaml", tmp_path / "settings.yaml")
    code, doc = run_json(capsys, "demo", "--settings", str(tmp_path / "settings.yaml"),
                         "--samples", str(REPO / "sample_files"))
    assert code == 0
    assert [r["state"] for r in doc["runs"]][:3] == ["applied", "applied", "applied"]
    assert doc["runs"][2]["counts"]["reactivate"] == 1
