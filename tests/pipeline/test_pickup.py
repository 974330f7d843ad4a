"""Picking files up from a local drop folder: order, duplicates, rejects, stability, crashes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filebridge.ledger.locks import ConnectionBusy, connection_lock
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.pickup import sync_connection
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace

NOW = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
DAY = ("2026", "11", "25")
LOCAL = '{type: local, inbox: drop/acme, pattern: "acme_*.csv", ready: {stable_seconds: 0}}'


def clock() -> datetime:
    return NOW


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace whose acme inbox takes files at once (no stability window)."""
    return write_workspace(tmp_path / "ws", transport=LOCAL)


@pytest.fixture
def ctx(ws: Path):
    context = open_context(ws)
    yield context
    context.close()


def inbox(ws: Path) -> Path:
    folder = ws.parent / "drop" / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def drop(ws: Path, source: Path, name: str, age: float = 100.0) -> Path:
    """Copy ``source`` into the inbox as ``name`` with an mtime ``age`` seconds ago."""
    target = inbox(ws) / name
    shutil.copy(source, target)
    stamp = time.time() - age
    os.utime(target, (stamp, stamp))
    return target


def test_two_nights_applied_oldest_first_and_archived(ws: Path, ctx: Context) -> None:
    # Dropped newest first, with mtimes saying night 1 is older: mtime decides.
    drop(ws, NIGHT2, "acme_employees_2026-11-25.csv", age=100)
    drop(ws, NIGHT1, "acme_employees_2026-11-24.csv", age=200)
    report = sync_connection(ctx, "acme", now=clock)
    assert [(f.name, f.state) for f in report.files] == [
        ("acme_employees_2026-11-24.csv", "applied"),
        ("acme_employees_2026-11-25.csv", "applied"),
    ]
    assert report.exit_code == 1  # both nights have rejected rows
    day = inbox(ws) / "archive" / Path(*DAY)
    assert sorted(p.name for p in day.iterdir()) == [f.name for f in report.files]
    assert [f.archived_to for f in report.files] == [str(day / f.name) for f in report.files]
    assert not list((inbox(ws) / "processing").iterdir())
    assert len(ctx.store.users("acme")) == 194 + 11
    recorded = {r.name: r for r in ctx.ledger.files("acme")}
    assert recorded["acme_employees_2026-11-24.csv"].moved_to == str(day / NIGHT1.name)
    assert report.to_dict()["files"][0]["counts"]["create"] == 194


def test_same_content_twice_applied_once_both_archived(ws: Path, ctx: Context) -> None:
    drop(ws, NIGHT1, "acme_employees_a.csv", age=200)
    drop(ws, NIGHT1, "acme_employees_b.csv", age=100)
    report = sync_connection(ctx, "acme", now=clock)
    first, second = report.files
    assert (first.state, second.state) == ("applied", "duplicate")
    assert first.sha256 == second.sha256
    assert first.archived_to and second.archived_to
    again = ctx.ledger.get_file(second.file_id or 0)
    assert (again.state, again.duplicate_of) == ("duplicate", first.file_id)
    assert len(ctx.store.users("acme")) == 194


def test_reused_name_with_new_content_is_new_and_archive_keeps_both(ws: Path,
                                                                     ctx: Context) -> None:
    drop(ws, NIGHT1, "acme_employees.csv")
    sync_connection(ctx, "acme", now=clock)
    drop(ws, NIGHT2, "acme_employees.csv")
    report = sync_connection(ctx, "acme", now=clock)
    assert report.files[0].state == "applied"
    day = inbox(ws) / "archive" / Path(*DAY)
    assert sorted(p.name for p in day.iterdir()) == ["acme_employees.1.csv", "acme_employees.csv"]


def test_unusable_file_is_rejected_with_error_txt_and_lms_unchanged(ws: Path,
                                                                   ctx: Context) -> None:
    drop(ws, NIGHT1, "acme_employees_1.csv", age=300)
    sync_connection(ctx, "acme", now=clock)
    before = ctx.store.dump()
    bad = inbox(ws) / "acme_employees_2.csv"
    bad.write_text("Employee ID,First Name\n001000,Emma\n", encoding="utf-8")
    report = sync_connection(ctx, "acme", now=clock)
    [f] = report.files
    assert (f.state, f.exit_code, report.exit_code) == ("rejected", 2, 2)
    assert f.rejected_to == str(inbox(ws) / "rejected" / bad.name)
    note = (inbox(ws) / "rejected" / f"{bad.name}.error.txt").read_text()
    assert "missing-column" in note and "Work Email" in note
    assert ctx.store.dump() == before
    assert ctx.ledger.get_file(f.file_id or 0).moved_to == f.rejected_to


def test_held_file_is_archived_and_its_spool_copy_kept(ws: Path, ctx: Context) -> None:
    drop(ws, NIGHT1, "acme_employees_1.csv", age=300)
    sync_connection(ctx, "acme", now=clock)
    header = NIGHT1.read_text(encoding="utf-8-sig").splitlines()[0]
    (inbox(ws) / "acme_employees_2.csv").write_text(header + "\n", encoding="utf-8")
    report = sync_connection(ctx, "acme", now=clock)
    [f] = report.files
    assert (f.state, report.exit_code) == ("held", 1)  # an empty snapshot never deactivates
    assert f.archived_to and Path(f.archived_to).is_file()
    assert Path(ctx.ledger.get_file(f.file_id or 0).spool_path).is_file()
    assert ctx.store.users("acme")["active"].all()


def test_file_over_the_size_limit_is_rejected_before_download(tmp_path: Path) -> None:
    small = LOCAL.replace("ready:", "max_file_bytes: 1000, ready:")
    ws = write_workspace(tmp_path / "ws", transport=small)
    drop(ws, NIGHT1, NIGHT1.name)
    context = open_context(ws)
    try:
        report = sync_connection(context, "acme", now=clock)
        spooled = list(context.spool_dir("acme").iterdir())
    finally:
        context.close()
    [f] = report.files
    assert (f.state, f.sha256, f.run_id) == ("rejected", None, None)
    assert f.reason and f.reason.startswith("file-too-large")
    assert "over the limit of 1000" in (inbox(ws) / "rejected" / f"{NIGHT1.name}.error.txt"
                                        ).read_text()
    assert spooled == []


def test_file_still_being_written_is_not_picked_up(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", transport=LOCAL.replace(
        "stable_seconds: 0", "stable_seconds: 0.6"))
    lines = NIGHT1.read_bytes().splitlines(keepends=True)
    target = inbox(ws) / NIGHT1.name

    def writer() -> None:
        with target.open("wb") as fh:
            for start in range(0, len(lines), 20):
                fh.write(b"".join(lines[start:start + 20]))
                fh.flush()
                time.sleep(0.15)  # ten chunks: ~1.5 s of writing

    thread = threading.Thread(target=writer)
    thread.start()
    context = open_context(ws)
    try:
        time.sleep(0.1)
        during = sync_connection(context, "acme", now=clock, wait_seconds=1.0)
        thread.join()
        after = sync_connection(context, "acme", now=clock, wait_seconds=3.0)
    finally:
        thread.join()
        context.close()
    assert during.files == () and during.errors == ()
    [f] = after.files
    assert f.state == "applied" and f.counts["create"] == 194  # every line was read


def test_a_file_left_in_processing_is_taken_up_first(ws: Path, ctx: Context) -> None:
    processing = inbox(ws) / "processing"
    processing.mkdir()
    shutil.copy(NIGHT1, processing / NIGHT1.name)
    drop(ws, NIGHT2, NIGHT2.name, age=5000)  # older mtime, still after the crashed one
    report = sync_connection(ctx, "acme", now=clock)
    assert [(f.name, f.recovered) for f in report.files] == [(NIGHT1.name, True),
                                                            (NIGHT2.name, False)]
    assert report.files[1].counts["create"] == 11


def test_links_are_skipped_and_reported(ws: Path, ctx: Context) -> None:
    (inbox(ws) / "acme_link.csv").symlink_to(NIGHT1)
    report = sync_connection(ctx, "acme", now=clock)
    assert report.files == ()
    assert [(s.name, s.reason) for s in report.skipped] == [
        ("acme_link.csv", "not-a-regular-file (link)")]
    assert report.to_dict()["skipped"] == [{"name": "'acme_link.csv'",
                                            "reason": "not-a-regular-file (link)"}]


def test_a_second_sync_of_the_connection_is_refused(ws: Path, ctx: Context) -> None:
    with connection_lock(ctx.ledger.engine, "acme/pickup"), pytest.raises(ConnectionBusy):
        sync_connection(ctx, "acme", now=clock)


def test_an_import_failure_stops_the_sync_and_keeps_the_file(ws: Path, ctx: Context) -> None:
    drop(ws, NIGHT1, NIGHT1.name, age=200)
    drop(ws, NIGHT2, NIGHT2.name, age=100)
    # Another run (a manual `apply`) holds the connection itself: night 1 cannot run now,
    # and night 2 must not run before it.
    with connection_lock(ctx.ledger.engine, "acme"):
        report = sync_connection(ctx, "acme", now=clock)
    assert report.files == ()
    assert [(e.file, e.code, e.retry) for e in report.errors] == [
        (repr(NIGHT1.name), "connection-busy", True)]
    assert report.exit_code == 3
    assert (inbox(ws) / "processing" / NIGHT1.name).exists()
    assert (inbox(ws) / NIGHT2.name).exists()
    later = sync_connection(ctx, "acme", now=clock)
    assert [(f.name, f.state) for f in later.files] == [(NIGHT1.name, "applied"),
                                                        (NIGHT2.name, "applied")]


# --- crash safety with a real process --------------------------------------------
def sync_cli(settings: Path, failpoint: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FILEBRIDGE_FAILPOINT": failpoint}
    return subprocess.run([sys.executable, "-m", "filebridge.cli.main", "sync", "acme",
                           "--settings", str(settings), "--json", "--wait", "0"],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def clean_dump(tmp_path_factory: pytest.TempPathFactory) -> list:
    ws = write_workspace(tmp_path_factory.mktemp("clean"), transport=LOCAL)
    drop(ws, NIGHT1, NIGHT1.name)
    context = open_context(ws)
    try:
        sync_connection(context, "acme")
        return context.store.dump()
    finally:
        context.close()


@pytest.mark.parametrize(("step", "then"), [("after-claim", "applied"),
                                            ("after-import-before-archive", "duplicate")])
def test_killed_sync_is_finished_by_the_next(ws: Path, clean_dump: list, step: str,
                                            then: str) -> None:
    drop(ws, NIGHT1, NIGHT1.name)
    killed = sync_cli(ws, f"{step}:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (inbox(ws) / "processing" / NIGHT1.name).exists()
    context = open_context(ws)
    try:
        before = context.store.dump()
        report = sync_connection(context, "acme", now=clock)
        [f] = report.files
        assert (f.state, f.recovered) == (then, True)
        assert f.archived_to and Path(f.archived_to).exists()
        assert context.store.dump() == clean_dump
        if then == "duplicate":
            assert before == clean_dump  # the commit happened before the kill
        applied = [r for r in context.ledger.runs("acme") if r.state == "applied"]
        assert len(applied) == 1
    finally:
        context.close()
    assert not list((inbox(ws) / "processing").iterdir())
