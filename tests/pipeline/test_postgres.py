"""The whole import pipeline with its LMS store and ledger on a real PostgreSQL server.

The same files, the same answers as on SQLite: two nights and a no-op replay, a kill at
every named step of an apply (the next run leaves the store as one clean run would), and
two processes racing one connection.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from filebridge.pipeline.context import open_context
from tests.conftest import PG_PASSWORD_ENV, PostgresServer
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
from tests.pipeline.test_crash import STEPS, cli, run

pytestmark = pytest.mark.postgres


def pg_workspace(root: Path, server: PostgresServer, database: str | None = None,
                 settings: Path | None = None) -> Path:
    """A workspace whose LMS store and ledger live in a fresh PostgreSQL database; the
    password is a secret reference, never in the YAML."""
    settings = settings or write_workspace(root)
    url = server.url(database or server.create_database(), with_password=False)
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace(
        "  url: sqlite:///{state_dir}/lms.sqlite",
        f"  url: {url}\n  password: ${{env:{PG_PASSWORD_ENV}}}"), encoding="utf-8")
    return settings


def state(settings: Path):
    ctx = open_context(settings)
    try:
        assert ctx.store.engine.dialect.name == "postgresql"
        return ctx.store.dump(), ctx.ledger.runs(limit=1000)
    finally:
        ctx.close()


@pytest.fixture
def pg_settings(tmp_path: Path, postgres: PostgresServer) -> Path:
    return pg_workspace(tmp_path / "ws", postgres)


def test_two_nights_and_a_no_op_replay(pg_settings: Path, capsys) -> None:
    from filebridge.cli.main import main
    outputs = []
    for args in (["apply", "acme", str(NIGHT1)], ["apply", "acme", str(NIGHT2)],
                 ["replay", str(NIGHT2), "--yes"], ["plan", "acme", str(NIGHT2)]):
        code = main([*args, "--settings", str(pg_settings), "--json"])
        outputs.append((code, json.loads(capsys.readouterr().out)))
    (c1, night1), (c2, night2), (c3, replay), (c4, again) = outputs
    assert (c1, night1["counts"]["create"], night1["counts"]["rejected"]) == (1, 194, 6)
    assert night2["state"] == "applied" and night2["counts"]["create"] == 11
    assert night2["counts"]["update"] == 5 and night2["counts"]["deactivate"] == 3
    for quiet in (replay, again):
        counts = quiet["counts"]
        assert counts["create"] == counts["update"] == counts["deactivate"] == 0
    dump, runs = state(pg_settings)
    assert sum(r.state == "applied" for r in runs) == 3  # two nights and the replay


@pytest.fixture(scope="module")
def clean_dump(tmp_path_factory, postgres) -> list:
    settings = pg_workspace(tmp_path_factory.mktemp("clean"), postgres)
    assert run(settings, "apply", "acme", str(NIGHT1)) == 1
    assert run(settings, "apply", "acme", str(NIGHT2)) == 1
    return state(settings)[0]


@pytest.mark.parametrize("step", STEPS)
def test_kill_at_each_step_then_rerun_equals_clean_run(pg_settings: Path, clean_dump, step):
    assert run(pg_settings, "apply", "acme", str(NIGHT1)) == 1
    assert run(pg_settings, "apply", "acme", str(NIGHT2),
               failpoint=f"{step}:kill") == -signal.SIGKILL
    assert run(pg_settings, "apply", "acme", str(NIGHT2)) in (0, 1)
    dump, runs = state(pg_settings)
    assert dump == clean_dump
    assert sum(r.state == "applied" for r in runs if r.file_id is not None) == 2
    assert not [r for r in runs if r.state == "running"]


def test_two_processes_racing_one_connection_apply_once(pg_settings: Path) -> None:
    procs = [cli(pg_settings, "apply", "acme", str(NIGHT1)) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([1, 3], [0, 1]), results
    dump, runs = state(pg_settings)
    assert sum(r.state == "applied" for r in runs) == 1
    assert len(dump) > 0


def test_first_runs_starting_together_migrate_once_and_lock_one_at_a_time(pg_url: str) -> None:
    """Concurrent first starts race on DDL and on the lock row; PostgreSQL runs such
    transactions side by side, so both must be serialized explicitly."""
    import threading

    from filebridge.ledger import Ledger
    from filebridge.ledger.locks import ConnectionBusy, connection_lock
    from filebridge.lms import SqlStore
    from filebridge.sql import open_engine

    engines = [open_engine(pg_url) for _ in range(6)]
    start, errors, held, busy = threading.Barrier(len(engines)), [], [], []

    def first_start(engine) -> None:
        try:
            start.wait()
            SqlStore(engine).migrate()
            Ledger(engine).migrate()
            start.wait()
            with connection_lock(engine, "acme"):
                held.append(1)
                start.wait()  # everyone has tried while this one holds it
        except ConnectionBusy:
            busy.append(1)
            start.wait()
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(repr(exc))
            start.abort()

    threads = [threading.Thread(target=first_start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    assert errors == []
    assert (len(held), len(busy)) == (1, len(engines) - 1)


def test_the_password_comes_from_a_secret_reference_and_is_never_printed(
        pg_settings: Path, postgres: PostgresServer, capsys, monkeypatch) -> None:
    from filebridge.cli.main import main
    args = ["plan", "acme", str(NIGHT1), "--settings", str(pg_settings)]
    monkeypatch.delenv(PG_PASSWORD_ENV)
    assert main(args) == 2
    assert PG_PASSWORD_ENV in capsys.readouterr().err
    monkeypatch.setenv(PG_PASSWORD_ENV, "not-the-password")
    assert main(args) == 3  # the LMS refuses the login: unavailable, not a bad file
    out = capsys.readouterr()
    assert "not-the-password" not in out.out + out.err
    monkeypatch.setenv(PG_PASSWORD_ENV, postgres.password)
    assert main(args) == 1  # planned; night 1 has rows to reject
    out = capsys.readouterr()
    assert postgres.password not in out.out + out.err


def test_completions_go_out_exactly_once(tmp_path: Path, postgres: PostgresServer) -> None:
    from tests.pipeline.export_fixtures import export_workspace
    from tests.pipeline.test_crash import run as run_cli
    root = tmp_path / "ws"
    settings = pg_workspace(root, postgres, settings=export_workspace(root))
    assert run_cli(settings, "apply", "acme", str(NIGHT1)) == 1
    assert run_cli(settings, "lms", "load-completions",
                   str(NIGHT1.parent / "acme_completions.csv"), "--connection", "acme") == 0
    assert run_cli(settings, "export", "acme") == 0
    assert run_cli(settings, "export", "acme") == 0  # nothing new: no second file
    files = sorted((root / "outbox").glob("[!.]*"))
    assert len(files) == 1 and files[0].read_text(encoding="utf-8").count("\n") > 1


def test_a_server_that_never_answers_fails_the_run_within_the_deadline(
        tmp_path: Path, postgres: PostgresServer, capsys) -> None:
    """A silent PostgreSQL (accepts, never speaks) is 'LMS unavailable' (exit 3) after the
    connect deadline, never a hang; the URL's own connect_timeout wins over the default."""
    import time

    from filebridge.cli.main import main
    from tests.conftest import FaultyProxy
    proxy = FaultyProxy(postgres.port, "silent_at_banner")
    try:
        settings = pg_workspace(tmp_path / "ws", postgres)
        text = settings.read_text(encoding="utf-8")
        settings.write_text(text.replace(f"127.0.0.1:{postgres.port}/", f"127.0.0.1:{proxy.port}/")
                            .replace("\n  password:", "?connect_timeout=2\n  password:"),
                            encoding="utf-8")
        started = time.monotonic()
        code = main(["plan", "acme", str(NIGHT1), "--settings", str(settings)])
        took = time.monotonic() - started
    finally:
        proxy.close()
    err = capsys.readouterr().err
    assert code == 3 and took < 15, (code, took, err)
    assert str(proxy.port) in err and postgres.password not in err


def test_the_daemon_runs_on_postgresql(tmp_path: Path, postgres: PostgresServer) -> None:
    """`filebridge run --once` picks a dropped file up and imports it; `status` reads the
    daemon's state back from the same PostgreSQL database."""
    from tests.daemon.conftest import drop, workspace
    from tests.daemon.test_e2e import NIGHTLY, filebridge
    root = tmp_path / "ws"
    settings = pg_workspace(root, postgres, settings=workspace(root, NIGHTLY))
    drop(settings, NIGHT1, "acme_employees_2026-11-24.csv")
    proc = filebridge(settings, "run", "--once")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out  # imported; night 1 has rows to reject
    assert list((root / "drop" / "acme" / "archive").rglob("acme_employees_2026-11-24.csv"))
    status = filebridge(settings, "status", "--json")
    text, _ = status.communicate(timeout=60)
    assert status.returncode == 0, text
    acme = next(c for c in json.loads(text)["connections"] if c["name"] == "acme")
    assert acme["last_sync"]["file"] == "acme_employees_2026-11-24.csv", acme
    dump, runs = state(settings)
    assert [r.state for r in runs if r.file_id is not None] == ["applied"]
    assert len([row for row in dump if row[0] == "user"]) == 194


def test_a_direct_update_on_postgresql_is_drift_put_back_by_the_apply(
        tmp_path: Path, postgres: PostgresServer) -> None:
    import sqlalchemy as sa

    from filebridge.pipeline.importer import RunOptions, run_import
    database = postgres.create_database()
    settings = pg_workspace(tmp_path / "ws", postgres, database)
    ctx = open_context(settings)
    try:
        run_import(ctx, "acme", NIGHT1, RunOptions(mode="apply"))
        outside = sa.create_engine(postgres.url(database))
        with outside.begin() as tx:  # an admin's script: its own session, no filebridge mark
            tx.execute(sa.text("UPDATE users SET job_title = 'Hand Edit' "
                               "WHERE employee_id = '001010'"))
        outside.dispose()
        planned = run_import(ctx, "acme", NIGHT1, RunOptions(mode="plan", replay=True))
        assert [(d.employee_id, d.field, d.lms) for d in planned.plan.drift] == [
            ("001010", "job_title", "Hand Edit")]
        fixed = run_import(ctx, "acme", NIGHT1, RunOptions(mode="apply", replay=True))
        assert fixed.counts["drift"] == 1
        again = run_import(ctx, "acme", NIGHT2, RunOptions(mode="apply"))
        assert again.plan.drift == ()  # filebridge's own updates leave no marks
    finally:
        ctx.close()
