"""Retention with a fake clock: ``cleanup`` removes each kind of personal data after its own
period (archive, rejected files, spool copies of every run, reject CSVs, change lists,
logs, report details, the store's journal, the values of per-person row events), says
exactly what it removes, removes nothing in a dry run, and leaves the ledger its hashes,
counts and dates."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from filebridge.cli.main import main
from filebridge.ledger.person_events import person_events
from filebridge.lms.schema import changes
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.errors import SpoolExpired
from filebridge.pipeline.lifecycle import approve, discard
from filebridge.pipeline.overview import replay_file
from filebridge.pipeline.pickup import sync_connection
from filebridge.pipeline.retention import cleanup
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
from tests.pipeline.files import apply, variant

LOCAL = ('{type: local, inbox: drop/acme, outbox: out/acme, pattern: "acme_*.csv", '
         'ready: {stable_seconds: 0}}')
RETENTION = ("    thresholds: {rejected_percent: 5}\n"
             "    retention: {archive_days: 30, rejected_days: 5, reports_days: 60}\n")


def files_under(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()


def nights(root: Path) -> tuple[Context, Path]:
    """Night 1 picked up and archived, an empty file rejected, a held run discarded."""
    settings = write_workspace(root, thresholds=RETENTION, transport=LOCAL)
    inbox = root / "drop" / "acme"
    inbox.mkdir(parents=True)
    shutil.copy(NIGHT1, inbox / NIGHT1.name)
    (inbox / "acme_empty.csv").write_bytes(b"")
    ctx = open_context(settings)
    sync_connection(ctx, "acme")
    half = variant(NIGHT2, root / "acme_employees_half.csv", lambda rows: rows[:90])
    held = apply(ctx, half)
    assert held.state == "held" and held.run_id is not None
    discard(ctx, held.run_id)
    return ctx, inbox


def test_cleanup_removes_each_kind_after_its_own_period(tmp_path):
    ctx, inbox = nights(tmp_path)
    try:
        state = ctx.settings.state_dir
        spool, reports = ctx.spool_dir("acme"), ctx.reports_dir("acme")
        archived, rejected = files_under(inbox / "archive"), files_under(inbox / "rejected")
        assert archived and rejected and len(files_under(spool)) == 3
        assert {Path(p).name.split("-", 2)[2] for p in files_under(reports)} == {
            "rejects.csv", "changes.csv", "log.jsonl"}
        everything = files_under(inbox) | files_under(state / "spool") | files_under(reports)
        now = datetime.now(UTC)

        dry = cleanup(ctx, "acme", now + timedelta(days=10), dry_run=True)
        assert {f.kind for f in dry.files} == {"rejected", "reject-csv"}
        assert {f.path for f in dry.files if f.kind == "rejected"} == rejected
        assert files_under(inbox) | files_under(spool) | files_under(reports) == everything

        done = cleanup(ctx, "acme", now + timedelta(days=10))
        assert done.files == dry.files and not files_under(inbox / "rejected")

        month = cleanup(ctx, "acme", now + timedelta(days=40))
        assert {f.kind for f in month.files} == {"archive", "spool"}
        assert {f.path for f in month.files if f.kind == "archive"} == archived
        # Every spool copy goes, the discarded run's included.
        assert not files_under(spool) and not files_under(inbox / "archive")
        assert month.run_details == () and month.journal_rows == 0
        assert files_under(reports)  # change lists and logs still within reports_days

        runs_before = {r.id: r for r in ctx.ledger.runs("acme", limit=100, with_report=True)}
        with ctx.ledger.engine.connect() as conn:
            events = conn.execute(sa.select(person_events)).all()
        # Night 1's rejected rows and the discarded hold's people, with their values.
        assert {e.kind for e in events} == {"reject", "held"}
        assert any(e.value for e in events) and not any(e.expired for e in events)
        late = cleanup(ctx, "acme", now + timedelta(days=70))
        assert late.person_events == len(events) == late.counts["person_events"]
        with ctx.ledger.engine.connect() as conn:
            cut = conn.execute(sa.select(person_events).order_by(person_events.c.id)).all()
        assert [(e.employee_id, e.kind, e.code, e.field, e.line) for e in cut] == [
            (e.employee_id, e.kind, e.code, e.field, e.line) for e in events]
        assert all(e.expired and e.value is None and e.old is None and e.message is None
                   for e in cut)
        assert {f.kind for f in late.files} == {"change-log", "run-log"}
        assert not files_under(reports)
        assert set(late.run_details) == {i for i, r in runs_before.items() if r.report}
        assert late.journal_rows > 190
        with ctx.store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(changes)).scalar() == 0
        for run in ctx.ledger.runs("acme", limit=100, with_report=True):
            before = runs_before[run.id]
            assert (run.counts, run.started_at, run.state) == (
                before.counts, before.started_at, before.state)
            if run.report:
                assert run.report["plan"] == {} and run.report["problems"] == []
                assert run.report["sha256"] == before.report["sha256"]
                assert "@" not in json.dumps(run.report)
        assert all(f.sha256 for f in ctx.ledger.files("acme", limit=100))
        assert cleanup(ctx, "acme", now + timedelta(days=71)).counts == {
            "run_details": 0, "journal_rows": 0, "person_events": 0, "task_runs": 0,
            "alerts": 0}
    finally:
        ctx.close()


def test_cleanup_command_lists_what_it_removes(tmp_path, capsys):
    ctx, inbox = nights(tmp_path)
    ctx.close()
    settings = str(tmp_path / "settings.yaml")
    for path in (inbox / "rejected").iterdir():  # rejected files from last week
        week_ago = (datetime.now(UTC) - timedelta(days=7)).timestamp()
        os.utime(path, (week_ago, week_ago))
    assert main(["cleanup", "--dry-run", "--settings", settings]) == 0
    out = capsys.readouterr().out
    assert "acme: keeps input files 30 days, rejected files 5 days" in out
    assert f"would remove rejected: {inbox / 'rejected'}" in out
    assert (inbox / "rejected").is_dir() and any((inbox / "rejected").iterdir())
    assert main(["cleanup", "acme", "--json", "--settings", settings]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"dry_run", "connections"}
    [report] = doc["connections"]
    assert set(report) == {"connection", "dry_run", "retention", "counts", "files",
                           "run_details", "journal_rows", "person_events", "task_runs",
                           "alerts"}
    assert report["counts"]["rejected"] == 2 and {f["kind"] for f in report["files"]} == {
        "rejected"}
    assert not any((inbox / "rejected").iterdir())


def test_replay_and_approve_after_retention_say_the_copy_was_removed_and_when(
        tmp_path, capsys):
    settings = write_workspace(tmp_path, thresholds=RETENTION)
    ctx = open_context(settings)
    try:
        applied = apply(ctx, NIGHT1)
        half = variant(NIGHT2, tmp_path / "acme_employees_half.csv", lambda rows: rows[:90])
        held = apply(ctx, half)
        assert held.state == "held" and held.run_id is not None
        later = datetime.now(UTC) + timedelta(days=40)
        removed = cleanup(ctx, "acme", later)
        assert {f.kind for f in removed.files} >= {"spool"}
        when = later.strftime("%Y-%m-%d %H:%M:%S UTC")
        with pytest.raises(SpoolExpired) as replayed:
            replay_file(ctx, str(applied.file_id))
        assert replayed.value.code == "spool-expired"
        assert replayed.value.file_id == applied.file_id and replayed.value.removed_at == when
        assert f"removed by retention on {when}" in str(replayed.value)
        with pytest.raises(SpoolExpired) as approved:
            approve(ctx, held.run_id)
        assert approved.value.file_id == held.file_id
        assert ctx.ledger.get_run(held.run_id).state == "held"  # nothing was applied
    finally:
        ctx.close()
    assert main(["replay", str(applied.file_id), "--yes", "--settings", str(settings)]) == 2
    err = capsys.readouterr().err
    assert "removed by retention on" in err and "archive_days" in err
