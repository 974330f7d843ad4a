"""A run whose ledger lives in another database than the LMS store tells the truth.

The store's changes and the ledger's applied mark cannot share a transaction then. A
process killed (or a ledger failing) right after the store's commit must not leave a run
shown ``failed`` that changed the LMS: the next start settles it from the store's own
mark, applied with the store's counts, and undo accepts it. Killed before the store's
commit, the run failed and nothing was applied. Both layouts, and a PostgreSQL store
with a SQLite ledger, give the same answers.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from filebridge.failpoints import VARIABLE, InjectedFailure
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.pipeline.lifecycle import undo
from tests.conftest import PostgresServer
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
from tests.pipeline.test_crash import run

LAYOUTS = ["one-database", "sqlite+sqlite", "postgres+sqlite"]
NIGHT2_COUNTS = {"create": 11, "update": 5, "deactivate": 3}


def separate_ledger(settings: Path) -> Path:
    """The ledger moved into a SQLite file of its own beside the store."""
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("connections:\n", "ledger:\n  url: sqlite:///{state_dir}/"
                                     "ledger.sqlite\nconnections:\n", 1), encoding="utf-8")
    return settings


def layout_workspace(root: Path, layout: str, request: pytest.FixtureRequest) -> Path:
    settings = write_workspace(root)
    if layout == "one-database":
        return settings
    if layout == "postgres+sqlite":
        from tests.pipeline.test_postgres import pg_workspace
        server: PostgresServer = request.getfixturevalue("postgres")
        settings = pg_workspace(root, server, settings=settings)
    return separate_ledger(settings)


@pytest.fixture(params=LAYOUTS)
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "postgres+sqlite":
        request.applymarker(pytest.mark.postgres)
    return layout_workspace(tmp_path / "ws", request.param, request)


@contextmanager
def opened(settings: Path) -> Iterator[Context]:
    ctx = open_context(settings)  # a start: recovery and settling happen here
    try:
        yield ctx
    finally:
        ctx.close()


def night2_run(ctx: Context):
    file = min((f for f in ctx.ledger.files("acme") if f.name == NIGHT2.name),
               key=lambda f: f.id)  # the first receipt of night 2, not a later duplicate
    [run_] = [r for r in ctx.ledger.runs("acme", with_report=True) if r.file_id == file.id]
    return run_, file


def active_ids(dump: list) -> set[str]:
    return {p[2] for p in dump if p[0] == "user" and p[-3]}


def shares_one_database(ctx: Context) -> bool:
    return ctx.ledger.engine is ctx.store.engine


def test_killed_after_the_store_commit_the_next_start_shows_applied_and_undo_works(ws):
    assert run(ws, "apply", "acme", str(NIGHT1)) == 1
    with opened(ws) as ctx:
        after_night1 = ctx.store.dump()
    assert run(ws, "apply", "acme", str(NIGHT2),
               failpoint="after-commit:kill") == -signal.SIGKILL
    with opened(ws) as ctx:
        night2, file = night2_run(ctx)
        assert (night2.state, file.state) == ("applied", "applied")
        assert {k: night2.counts[k] for k in NIGHT2_COUNTS} == NIGHT2_COUNTS
        assert night2.error is None
        assert not ctx.ledger.intents.open()
        if not shares_one_database(ctx):  # settled from the store's mark at this start
            assert night2.report is not None and "store's journal" in night2.report["settled"]
        undone = undo(ctx, night2.id, force=True)  # past the brakes: 11 leave again
        assert undone.state == "applied" and undone.counts["update"] == 5
        assert ctx.ledger.get_run(undone.run_id).state == "applied"
        assert active_ids(ctx.store.dump()) == active_ids(after_night1)
    assert run(ws, "apply", "acme", str(NIGHT2)) == 0  # the file is applied: a duplicate


def test_killed_before_the_store_commit_the_run_failed_and_nothing_was_applied(ws):
    assert run(ws, "apply", "acme", str(NIGHT1)) == 1
    with opened(ws) as ctx:
        after_night1 = ctx.store.dump()
    assert run(ws, "apply", "acme", str(NIGHT2),
               failpoint="before-commit:kill") == -signal.SIGKILL
    with opened(ws) as ctx:
        night2, file = night2_run(ctx)
        assert night2.state == "failed" and file.state != "applied"
        assert night2.error is not None and night2.error["code"] == "interrupted"
        assert not ctx.ledger.intents.open()
        assert ctx.store.dump() == after_night1
    assert run(ws, "apply", "acme", str(NIGHT2)) == 1  # applied now, once
    with opened(ws) as ctx:
        applied = [r for r in ctx.ledger.runs("acme") if r.state == "applied"]
        assert len(applied) == 2 and applied[0].counts["create"] == 11


def test_a_ledger_failing_after_the_store_commit_is_settled_before_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process goes on (a daemon): the failed run is settled from the store's mark
    as soon as the ledger answers, so history never shows a run that never ends, and the
    next run does not apply the file twice."""
    ws = separate_ledger(write_workspace(tmp_path / "ws"))
    with opened(ws) as ctx:
        run_import(ctx, "acme", NIGHT1, RunOptions("apply"))
        monkeypatch.setenv(VARIABLE, "after-commit:fail")
        with pytest.raises(InjectedFailure):
            run_import(ctx, "acme", NIGHT2, RunOptions("apply"))
        night2, _ = night2_run(ctx)
        assert night2.state == "applied" and ctx.ledger.intents.open() == []
        monkeypatch.delenv(VARIABLE)
        again = run_import(ctx, "acme", NIGHT2, RunOptions("apply"))
        assert again.state == "duplicate" and again.counts.get("create", 0) == 0
        night2, file = night2_run(ctx)
        assert (night2.state, file.state) == ("applied", "applied")
        assert night2.counts["create"] == 11


def test_history_shows_the_settled_run(tmp_path: Path, capsys) -> None:
    from filebridge.cli.main import main
    ws = separate_ledger(write_workspace(tmp_path / "ws"))
    assert run(ws, "apply", "acme", str(NIGHT1)) == 1
    assert run(ws, "apply", "acme", str(NIGHT2),
               failpoint="after-commit:kill") == -signal.SIGKILL
    assert main(["history", "acme", "--settings", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "failed" not in out and "running" not in out
    assert out.count("applied") >= 2
