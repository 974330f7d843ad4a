"""``filebridge web`` and the daemon (``filebridge run``) as two real processes on the same
state, SQLite (WAL) and PostgreSQL: the pages answer promptly while the daemon imports
a big file, an action that needs the connection says it is busy and with which run, and
the tiles show the daemon's heartbeat and, afterwards, the imported file."""

from __future__ import annotations

import queue
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from filebridge.pipeline.context import open_context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.web import users
from tests.daemon.conftest import drop, workspace
from tests.daemon.test_e2e import NIGHTLY, _reader, _wait_for, filebridge
from tests.pipeline.test_crash import big_file
from tests.pipeline.test_postgres import pg_workspace
from tests.web.conftest import PASSWORD, served

# Enough rows that the import is still running after the pages were read (PostgreSQL
# applies more slowly than SQLite, so fewer rows keep it busy as long).
ROWS = {"sqlite": 150_000, "postgresql": 50_000}
# Seconds: under the 5 s busy timeout a read waiting for the import's write lock would use
# (on a loaded two-core machine a page can take a few seconds of CPU alone).
PROMPT = 4.5


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:1000]
    return found.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_pages_work_while_the_daemon_imports(backend, tmp_path: Path, request) -> None:
    root = tmp_path / "ws"
    settings = workspace(root, NIGHTLY + "watch: true\n")
    if backend == "postgresql":
        settings = pg_workspace(root, request.getfixturevalue("postgres"), settings=settings)
    (root / "drop" / "acme").mkdir(parents=True)
    small, big = tmp_path / "acme_employees_small.csv", tmp_path / "big.csv"
    big_file(small, 100)  # the first 100 people of the big file: it only adds people
    big_file(big, ROWS[backend])
    ctx = open_context(settings)
    try:
        users.add_user(ctx.ledger.web_accounts, "sam", "support", PASSWORD, by="test")
        assert run_import(ctx, "acme", small, RunOptions("apply")).state == "applied"
    finally:
        ctx.close()
    daemon = filebridge(settings, "run", "--heartbeat", "1")
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert daemon.stdout is not None
    threading.Thread(target=_reader, args=(daemon.stdout, lines), daemon=True).start()
    try:
        with served(settings, tmp_path / "web.log") as url, \
                httpx.Client(base_url=url, timeout=30, follow_redirects=True) as web:
            _wait_for(lines, seen, "watching the inbox of acme", 60)
            login = web.get("/login")
            done = web.post("/login", data={"csrf": _token(login.text), "name": "sam",
                                            "password": PASSWORD})
            assert done.status_code == 200 and "Daemon running" in done.text
            token = _token(done.text)
            drop(settings, big, "acme_employees_big.csv")
            _wait_for(lines, seen, "progress: map", 60)  # the daemon is mid-import now
            for path in ("/", "/runs", "/runs/1", "/held", "/files", "/activity",
                         "/connections/acme/chart.svg"):
                start = time.monotonic()
                assert web.get(path).status_code == 200, path
                assert time.monotonic() - start < PROMPT, path
            busy = web.post("/files/1/replay", data={"csrf": token, "step": "plan"})
            assert busy.status_code == 409 and "connection-busy" in busy.text, busy.text[-2000:]
            assert re.search(r"run <a href=\"/runs/\d+\">\d+</a> \(import, file 2\)", busy.text)
            _wait_for(lines, seen, "import success", 240)
            tiles = web.get("/").text
            assert "acme_employees_big.csv" in tiles and "Daemon running" in tiles
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    ctx = open_context(settings)
    try:
        assert [r.state for r in ctx.ledger.runs("acme")][:2] == ["applied", "applied"]
    finally:
        ctx.close()
