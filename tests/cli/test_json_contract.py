"""The README's `--json` key lists are a contract: every command prints exactly those keys.

Each test runs real commands on a throwaway workspace and compares the keys printed with
the keys the README names for that command, so neither can change without the other.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from filebridge.cli.main import main
from tests.pipeline.conftest import DELTA, NIGHT1, NIGHT2, REPO, SAMPLES, write_workspace
from tests.pipeline.export_fixtures import export_workspace
from tests.pipeline.files import variant

README = (REPO / "README.md").read_text(encoding="utf-8")
LOCAL = ('{type: local, inbox: drop/acme, outbox: out/acme, pattern: "acme_*.csv", '
         'ready: {stable_seconds: 0}}')


def readme_sentence(marker: str) -> str:
    """The README text from ``marker`` to the end of its sentence."""
    start = README.index(marker) + len(marker)
    end = re.search(r"[.;](\n|\s+[`A-Z])", README[start:])
    assert end, marker
    return README[start:start + end.start()]


def _without_parentheses(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        depth += ch == "("
        if not depth:
            out.append(ch)
        depth -= ch == ")" and depth > 0
    return "".join(out)


def top_level_keys(marker: str) -> set[str]:
    """The keys a README sentence names at the top level (not in parentheses, not after
    "with" or "each with", which introduce the keys of nested lists)."""
    text = _without_parentheses(readme_sentence(marker))
    text = re.split(r"\bwith\b|, one per\b", text)[0]
    names: set[str] = set()
    for group in re.findall(r"`([^`]*)`", text):
        names |= {n.strip().removesuffix("[]") for n in group.split(",") if n.strip()}
    return names


def named_in(marker: str) -> set[str]:
    """Every backticked name in the README sentence (keys of nested objects included)."""
    names: set[str] = set()
    for group in re.findall(r"`([^`]*)`", readme_sentence(marker)):
        names |= {n.strip().removesuffix("[]") for n in group.split(",") if n.strip()}
    return names


def run_report_table() -> dict[str, str]:
    """The run report table: each key with the text of its row."""
    start = README.index("print one run report with these stable keys:")
    rows: dict[str, str] = {}
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = line.split("|")
        for key in re.findall(r"`([^`]+)`", cells[1]):
            rows[key] = cells[2]
    rows.pop("key", None)
    return rows


def row_names(text: str) -> set[str]:
    """Backticked names in a table cell; ``a_b/c`` names both ``a_b`` and ``a_c``."""
    names: set[str] = set()
    for group in re.findall(r"`([^`]*)`", text):
        for name in (n.strip() for n in group.split(",") if n.strip()):
            first, *others = name.split("/")
            stem = first.rsplit("_", 1)[0] + "_" if others else ""
            names |= {first, *(stem + o for o in others)}
    return names


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def assert_keys(doc: dict[str, Any], expected: set[str], *, documented: set[str]) -> None:
    """``doc`` has exactly ``expected`` keys, and the README names each of them."""
    assert set(doc) == expected
    assert expected <= documented, sorted(expected - documented)


RUN_REPORT = {"run_id", "connection", "file", "file_id", "sha256", "mode", "state",
              "exit_code", "rows", "rejected_rows", "counts", "plan", "problems",
              "problems_dropped", "warnings", "holds", "reject_file", "duplicate_of", "error",
              "timings", "state_location", "export_time", "about_run", "refused"}
PLAN = {"connection", "file_kind", "counts", "creates", "updates", "drift", "deactivations",
        "reactivations", "deletes", "rekeys", "skipped", "org", "org_counts", "groups",
        "group_drift", "truncated"}
PROBLEM = {"code", "message", "file", "line", "column", "value", "severity", "related_lines"}


def test_the_run_report_table_is_exactly_the_run_report(capsys, tmp_path):
    table = run_report_table()
    assert set(table) == RUN_REPORT
    ws = str(write_workspace(tmp_path / "ws"))
    _, planned = cli_json(capsys, "plan", "acme", str(NIGHT1), "--settings", ws)
    _, applied = cli_json(capsys, "apply", "acme", str(NIGHT1), "--settings", ws)
    _, replayed = cli_json(capsys, "replay", str(applied["file_id"]), "--yes", "--settings", ws)
    _, night2 = cli_json(capsys, "plan", "acme", str(NIGHT2), "--settings", ws)
    for doc in (planned, applied, replayed, night2):
        assert set(doc) == RUN_REPORT
    plan = planned["plan"]
    # "connection" and "file_kind" are the plan's own; the README documents the lists.
    assert set(plan) == PLAN
    assert PLAN - {"connection", "file_kind"} <= row_names(table["plan"])
    assert set(planned["problems"][0]) == PROBLEM <= row_names(table["problems"])
    assert {"employee_id", "field", "old", "new", "line"} == set(night2["plan"]["updates"][0])
    assert {"employee_id", "reason", "line"} == set(night2["plan"]["deactivations"][0])
    assert {"kind", "action", "code", "name", "parent_code", "old_name",
            "old_parent_code"} == set(night2["plan"]["org"][0]) <= row_names(table["plan"])
    assert set(planned["counts"]) <= row_names(table["counts"])
    assert set(applied["counts"]) <= row_names(table["counts"])


def _sales_only(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["Department"] == "Sales"]


def test_held_approved_discarded_and_undone_runs_print_the_run_report(capsys, tmp_path):
    table = run_report_table()
    ws = str(write_workspace(tmp_path / "ws"))
    cli_json(capsys, "apply", "acme", str(NIGHT1), "--settings", ws)
    part = variant(NIGHT1, tmp_path / "acme_employees_sales.csv", _sales_only)
    code, held = cli_json(capsys, "apply", "acme", str(part), "--settings", ws)
    assert code == 1 and held["state"] == "held" and set(held) == RUN_REPORT
    assert set(held["holds"][0]) == {"code", "message", "reaction"} <= row_names(table["holds"])
    _, dropped = cli_json(capsys, "discard", str(held["run_id"]), "--settings", ws)
    assert dropped["about_run"] == held["run_id"] and set(dropped) == RUN_REPORT
    fewer = variant(NIGHT1, tmp_path / "acme_employees_sales2.csv",
                    lambda rows: _sales_only(rows)[1:])
    _, held2 = cli_json(capsys, "apply", "acme", str(fewer), "--settings", ws)
    assert held2["state"] == "held"
    _, approved = cli_json(capsys, "approve", str(held2["run_id"]), "--yes", "--settings", ws)
    assert approved["about_run"] == held2["run_id"] and set(approved) == RUN_REPORT
    _, night2 = cli_json(capsys, "apply", "acme", str(NIGHT2), "--settings", ws)
    cli_json(capsys, "apply", "acme", str(DELTA), "--settings", ws)
    code, undone = cli_json(capsys, "undo", str(night2["run_id"]), "--yes", "--settings", ws)
    assert code == 1 and set(undone) == RUN_REPORT and undone["refused"]
    assert set(undone["refused"][0]) == {"employee_id", "action", "field", "reason"}
    assert set(undone["refused"][0]) <= row_names(table["refused"])


def test_link_prints_the_run_report_with_adoptions(capsys, tmp_path):
    ws = str(write_workspace(tmp_path / "ws"))
    code, linked = cli_json(capsys, "link", "acme", str(NIGHT1), "--settings", ws)
    assert set(linked) == RUN_REPORT
    assert set(linked["plan"]) == {"adoptions"}
    documented = named_in("`link --json` a report whose")
    assert {"user_id", "lms_employee_id", "email", "employee_id", "line", "note"} <= documented


def test_validate_history_show_users_check(capsys, tmp_path):
    ws = str(write_workspace(tmp_path / "ws"))
    _, doc = cli_json(capsys, "validate", "acme", str(NIGHT1), "--settings", ws)
    assert_keys(doc, top_level_keys("`validate --json`:"),
                documented=named_in("`validate --json`:"))
    assert set(doc["problems"][0]) == PROBLEM
    _, applied = cli_json(capsys, "apply", "acme", str(NIGHT1), "--settings", ws)
    _, hist = cli_json(capsys, "history", "--settings", ws)
    assert_keys(hist, top_level_keys("`history --json`:"), documented=named_in("`history --json`:"))
    run_keys = named_in("`history --json`:") - top_level_keys("`history --json`:")
    assert set(hist["runs"][0]) == run_keys | {"files"}
    assert "files" in named_in("`history --json` runs also carry")
    _, shown = cli_json(capsys, "show", str(applied["run_id"]), "--settings", ws)
    assert_keys(shown, top_level_keys("`show --json`:"), documented=named_in("`show --json`:"))
    assert set(shown["report"]) == RUN_REPORT
    _, users = cli_json(capsys, "users", "acme", "--settings", ws)
    assert_keys(users, top_level_keys("`users --json`:"), documented=named_in("`users --json`:"))
    _, checked = cli_json(capsys, "check", "--settings", ws)
    assert_keys(checked, top_level_keys("`check --json`:"), documented=named_in("`check --json`:"))
    mapping = Path(ws).parent / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace("[trim, lower]", "[lowr]"),
                       encoding="utf-8")
    _, bad = cli_json(capsys, "check", "--settings", ws)
    assert set(bad["problems"][0]) == {"file", "line", "key", "message"}


GROUP_RULES = """
groups:
  - name: Contractors
    when: {field: employee_type, is: contractor}
  - group_from: department
    name: "Dept {value}"
"""


def test_groups_and_the_plan_s_group_changes(capsys, tmp_path):
    ws = str(write_workspace(tmp_path / "ws"))
    mapping = Path(ws).parent / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + GROUP_RULES, encoding="utf-8")
    _, applied = cli_json(capsys, "apply", "acme", str(NIGHT1), "--settings", ws)
    table = run_report_table()
    change = applied["plan"]["groups"][0]
    assert set(change) == {"employee_id", "group", "action", "line"} <= row_names(table["plan"])
    assert {"group_add", "group_remove", "no_group", "groups_created"} <= set(applied["counts"])
    assert set(applied["counts"]) <= row_names(table["counts"])
    _, listed = cli_json(capsys, "groups", "acme", "--settings", ws)
    assert_keys(listed, top_level_keys("`groups --json`:"),
                documented=named_in("`groups --json`:"))
    assert listed["count"] == len(listed["groups"]) > 0
    assert set(listed["groups"][0]) == {"group", "members", "by_rule", "by_hand"}
    name = listed["groups"][0]["group"]
    _, members = cli_json(capsys, "groups", "acme", name, "--settings", ws)
    marker = "`groups CONNECTION GROUP --json`:"
    assert_keys(members, top_level_keys(marker), documented=named_in(marker))
    assert set(members["members"][0]) == {"employee_id", "managed_by", "by_rule"}
    assert members["count"] == listed["groups"][0]["members"]


def test_load_completions_and_export(capsys, tmp_path):
    settings = str(export_workspace(tmp_path))
    cli_json(capsys, "apply", "acme", str(NIGHT1), "--settings", settings)
    marker = "`lms load-completions --json`:"
    _, loaded = cli_json(capsys, "lms", "load-completions",
                         str(SAMPLES / "acme_completions.csv"), "--settings", settings)
    assert_keys(loaded, top_level_keys(marker), documented=named_in(marker))
    assert set(loaded["counts"]) <= named_in(marker)
    marker = "`export --json`:"
    _, report = cli_json(capsys, "export", "acme", "--settings", settings)
    assert_keys(report, top_level_keys(marker), documented=named_in(marker))
    assert set(report["files"][0]) <= named_in(marker)
    assert set(report["counts"]) <= named_in(marker)
    _, dry = cli_json(capsys, "export", "acme", "--dry-run", "--settings", settings)
    assert set(dry) == set(report)


def test_sync_deliver_and_status(capsys, tmp_path):
    ws = write_workspace(tmp_path / "ws", transport=LOCAL)
    inbox = tmp_path / "ws" / "drop" / "acme"
    inbox.mkdir(parents=True)
    shutil.copy(NIGHT1, inbox / NIGHT1.name)
    (inbox / "acme_empty.csv").write_bytes(b"")
    marker = "`sync --json` prints"
    _, synced = cli_json(capsys, "sync", "acme", "--settings", str(ws))
    assert_keys(synced, top_level_keys(marker), documented=named_in(marker))
    assert {f["state"] for f in synced["files"]} == {"applied", "rejected"}
    assert set(synced["files"][0]) <= named_in(marker)
    assert set(synced["files"][0]) == {
        "name", "state", "sha256", "run_id", "file_id", "exit_code", "counts",
        "rejected_rows", "archived_to", "rejected_to", "reason", "recovered"}
    marker = "`deliver --json` prints"
    sent = tmp_path / "completions_2026-11-25.csv"
    sent.write_text("employee_id,course\n001000,safety\n", encoding="utf-8")
    _, delivered = cli_json(capsys, "deliver", "acme", str(sent), "--settings", str(ws))
    assert_keys(delivered, top_level_keys(marker), documented=named_in(marker))
    marker = "`--json` keys:"
    _, status = cli_json(capsys, "status", "--settings", str(ws))
    assert_keys(status, top_level_keys(marker), documented=named_in(marker))
    conn = status["connections"][0]
    assert set(conn) == {"name", "status", "status_text", "reason", "last_sync", "next_runs",
                         "held_runs", "alerts", "tasks", "lock", "lms"} <= named_in(marker)
    assert set(conn["last_sync"]) <= named_in(marker)
    assert set(status["daemon"]) <= named_in(marker)


def test_person_and_person_file(capsys, tmp_path):
    ws = str(write_workspace(tmp_path / "ws"))
    main(["apply", "acme", str(NIGHT1), "--settings", ws])
    capsys.readouterr()
    _, doc = cli_json(capsys, "person", "acme", "001002", "--settings", ws)
    marker = "`person --json`:"
    assert_keys(doc, top_level_keys(marker), documented=named_in(marker))
    entry = doc["timeline"][0]
    assert set(entry) <= named_in(marker) and set(entry["changes"][0]) <= named_in(marker)
    # 001040 has no work e-mail in night 1: never created, only a rejected row.
    _, doc = cli_json(capsys, "person", "acme", "001040", "--settings", ws)
    [entry] = doc["timeline"]
    assert entry["changes"] == [] and entry["events"][0]["kind"] == "reject"
    assert set(entry["events"][0]) <= named_in(marker)
    assert {"reject", "skip", "filter", "held"} <= named_in(marker)
    _, doc = cli_json(capsys, "person", "acme", "001002", "--file", str(NIGHT2),
                      "--settings", ws)
    marker = "`person --file --json`:"
    assert_keys(doc, top_level_keys(marker), documented=named_in(marker))
    field = doc["rows"][0]["fields"][0]
    assert {*doc["rows"][0], *field, *field["steps"][0], *doc["outcomes"][0]} <= named_in(marker)
