"""A filebridge workspace with history for the admin pages: an applied night with hostile
values and rejected rows, a held run, three users (admin, support, viewer)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from filebridge.pipeline.context import open_context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.web import users
from filebridge.web.app import create_app
from tests.conftest import _free_port
from tests.pipeline.conftest import ACME_TRANSPORT, NIGHT1, NIGHT2, write_workspace
from tests.pipeline.files import Row, variant

PASSWORD = "correct horse 7"
USERS = {"ann": "admin", "sam": "support", "val": "viewer"}
SCRIPT_NAME = '<script>alert("pwned")</script>'
FORMULA_EMAIL = "=HYPERLINK(\"http://evil.example\",\"x\")"


def _hostile(rows: list[Row]) -> None:
    rows[1]["First Name"] = SCRIPT_NAME  # a person created with this name
    rows[2]["Work Email"] = FORMULA_EMAIL  # a rejected row with this value


def _cut(rows: list[Row]) -> list[Row]:
    return rows[:30]  # a truncated upload: held by the row-drop brake


@dataclass
class Site:
    """The workspace and what the fixture put in it."""

    settings: Path
    applied_run: int
    held_run: int
    held_file: int


def build_site(root: Path, transport: str = ACME_TRANSPORT) -> Site:
    """Write the workspace, apply night 1 (hostile), hold a truncated night 2, add users."""
    settings = write_workspace(root, transport=transport)
    ctx = open_context(settings)
    try:
        night1 = variant(NIGHT1, root / "acme_employees_2026-11-24.csv", _hostile)
        applied = run_import(ctx, "acme", night1, RunOptions("apply"))
        cut = variant(NIGHT2, root / "acme_employees_2026-11-25.csv", _cut)
        held = run_import(ctx, "acme", cut, RunOptions("apply"))
        assert applied.state == "applied" and held.state == "held"
        accounts = ctx.ledger.web_accounts
        for name, role in USERS.items():
            users.add_user(accounts, name, role, PASSWORD, by="test")
    finally:
        ctx.close()
    return Site(settings, int(applied.run_id or 0), int(held.run_id or 0),
                int(held.file_id or 0))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A workspace with history and users, shared by a module's tests that only read."""
    return build_site(tmp_path_factory.mktemp("site") / "ws")


@pytest.fixture
def fresh_site(tmp_path: Path) -> Site:
    """A workspace of this test's own (for tests that approve, discard or replay)."""
    return build_site(tmp_path / "ws")


def client_of(site: Site, **options: object) -> TestClient:
    """A test client of the app on ``site`` (not logged in); use it as a context manager."""
    return TestClient(create_app(site.settings, **options),  # type: ignore[arg-type]
                      base_url="http://testserver", raise_server_exceptions=False)


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    """A test client on the shared ``site``."""
    with client_of(site) as c:
        yield c


@pytest.fixture
def fresh_client(fresh_site: Site) -> Iterator[TestClient]:
    """A test client on this test's own site."""
    with client_of(fresh_site) as c:
        yield c


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log ``name`` in; returns the session's CSRF token."""
    page = client.get("/login")
    done = client.post("/login", data={"csrf": csrf_of(page.text), "name": name,
                                       "password": password, "next": "/"},
                       follow_redirects=False)
    assert done.status_code == 303, done.text[-2000:]
    return csrf_of(client.get("/").text)


def digest_of(html: str) -> str:
    """The plan digest a confirmation form carries."""
    found = re.search(r'name="digest" value="([^"]+)"', html)
    assert found, html[-3000:]
    return found.group(1)


@contextmanager
def served(settings: Path, log: Path, *options: str) -> Iterator[str]:
    """``filebridge web`` as a real process on a free port; yields its base URL."""
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", "web",
                                 "--settings", str(settings), "--port", str(port), *options],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
