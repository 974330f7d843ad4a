"""`filebridge lms load-completions` and `filebridge export`: exit codes and --json keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filebridge.cli.main import main
from tests.pipeline.conftest import NIGHT1, SAMPLES
from tests.pipeline.export_fixtures import export_workspace


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_load_then_export_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = str(export_workspace(tmp_path))
    assert main(["apply", "acme", str(NIGHT1), "--settings", settings]) == 1
    capsys.readouterr()
    code, loaded = cli_json(capsys, "lms", "load-completions",
                            str(SAMPLES / "acme_completions.csv"), "--settings", settings)
    assert code == 0 and loaded["counts"]["inserted"] == 30
    assert set(loaded) == {"file", "connection", "rows", "rejected_rows", "counts", "problems",
                           "exit_code", "state_location"}
    code, report = cli_json(capsys, "export", "acme", "--settings", settings)
    assert code == 0 and report["state"] == "delivered"
    assert set(report) == {"run_id", "connection", "kind", "dry_run", "state", "exit_code",
                           "since", "until", "watermark_before", "watermark_after", "counts",
                           "files", "retried", "error", "timings", "state_location"}
    assert set(report["files"][0]) == {"name", "sequence", "rows", "sha256", "size",
                                       "local_path", "delivered_to"}
    code, history = cli_json(capsys, "history", "acme", "--settings", settings)
    assert history["runs"][0]["files"] == [report["files"][0]["name"]]


def test_bad_rows_are_rejected_with_line_and_column(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    settings = str(export_workspace(tmp_path))
    main(["apply", "acme", str(NIGHT1), "--settings", settings])
    bad = tmp_path / "bad.csv"
    bad.write_text("employee_id,course_code,status,completed_at,score\n"
                   "001001,SEC-101,passed,2026-11-20,80\n"
                   "999999,SEC-101,passed,2026-11-20,80\n"
                   "001002,SEC-101,great,2026-11-20,80\n"
                   "001003,SEC-101,passed,20/11/2026,80\n", encoding="utf-8")
    capsys.readouterr()
    code, loaded = cli_json(capsys, "lms", "load-completions", str(bad), "--settings", settings)
    assert code == 1 and loaded["counts"]["inserted"] == 1
    assert [(p["line"], p["column"], p["code"]) for p in loaded["problems"]] == [
        (3, "employee_id", "unknown-person"), (4, "status", "invalid-status"),
        (5, "completed_at", "invalid-date")]


def test_export_without_mapping_is_a_configuration_error(tmp_path: Path, capsys) -> None:
    settings = str(export_workspace(tmp_path))
    assert main(["export", "acme-xml", "--settings", settings]) == 2
    assert "no export_mapping" in capsys.readouterr().err


def test_manual_export_is_refused_while_the_connection_is_busy(tmp_path, capsys):
    """A manual export takes the connection's lock, like the daemon's export task."""
    from filebridge.cli.main import main
    from filebridge.ledger.locks import connection_lock
    from filebridge.pipeline.context import open_context
    from tests.pipeline.conftest import write_workspace

    settings = write_workspace(tmp_path / "ws")
    ctx = open_context(settings)
    try:
        with connection_lock(ctx.ledger.engine, "acme"):
            code = main(["export", "acme", "--dry-run", "--settings", str(settings)])
    finally:
        ctx.close()
    assert code == 3 and "is busy" in capsys.readouterr().err
