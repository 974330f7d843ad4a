"""A real SCIM 2.0 service provider for the tests: the ``scim2-server`` command.

It runs as a subprocess on 127.0.0.1 on a free port, accepts one bearer token and
serves each test its own tenant (``/<tenant>/v2``) so tests never see each other's
users. The schemas are RFC 7643's plus a custom extension, so custom attributes by
schema URN are exercised. A second server announces neither PATCH nor Bulk, for the
PUT-with-If-Match road. Without the command the tests skip on a laptop; under CI=true
that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

TOKEN = "test-token-7c1e"
TOKEN_ENV = "FILEBRIDGE_TEST_SCIM_TOKEN"
CUSTOM = "urn:example:params:scim:schemas:extension:learning:2.0:User"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command() -> str | None:
    beside = Path(sys.executable).parent / "scim2-server"
    return str(beside) if beside.exists() else shutil.which("scim2-server")


@dataclass
class ScimServer:
    """A running scim2-server."""

    port: int
    token: str
    process: subprocess.Popen[bytes]

    def tenant(self) -> str:
        """The base URL of a new, empty tenant."""
        return f"http://127.0.0.1:{self.port}/t{uuid.uuid4().hex[:12]}/v2"

    def client(self, url: str) -> httpx2.Client:
        """A plain HTTP client for ``url`` with the token (for looking behind filebridge)."""
        return httpx2.Client(base_url=url + "/", timeout=30,
                             headers={"Authorization": f"Bearer {self.token}"})

    def users(self, url: str) -> list[dict[str, Any]]:
        """Every User of the tenant at ``url``, read page by page (by index, or by cursor
        on a server that only has cursors)."""
        return self.resources(url, "Users")

    def resources(self, url: str, endpoint: str) -> list[dict[str, Any]]:
        """Every resource at ``endpoint`` (``Users``, ``Groups``) of the tenant at ``url``."""
        out: list[dict[str, Any]] = []
        with self.client(url) as http:
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"count": 500}
                params.update({"cursor": cursor} if cursor is not None
                              else {"startIndex": len(out) + 1})
                page = http.get(endpoint, params=params)
                if page.status_code == 501 and cursor is None:
                    cursor = ""  # cursor pagination only
                    continue
                page.raise_for_status()
                body = page.json()
                out += body.get("Resources") or []
                if cursor is not None:
                    cursor = body.get("nextCursor")
                    if not cursor:
                        return out
                elif not body.get("Resources") or len(out) >= body["totalResults"]:
                    return out


def employee_number(user: dict[str, Any]) -> Any:
    """The enterprise extension's employeeNumber of a listed user."""
    return (user.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User") or {}
            ).get("employeeNumber")


def canonical(users: list[dict[str, Any]],
              key: Callable[[dict[str, Any]], Any] = lambda u: u.get("externalId")
              ) -> list[tuple[Any, ...]]:
    """A listing without server-made ids and timestamps, managers by their ``key``
    (externalId), sorted: two runs that ended in the same LMS state give equal values."""
    by_id = {u["id"]: key(u) for u in users}
    out = []
    for u in users:
        body = {k: v for k, v in u.items() if k not in ("id", "meta")}
        enterprise = body.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        if enterprise and "manager" in enterprise:
            enterprise = {**enterprise, "manager": by_id.get(enterprise["manager"]["value"])}
            body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = enterprise
        out.append((key(u), json.dumps(body, sort_keys=True)))
    return sorted(out)


def _schemas(folder: Path, groups: bool = True) -> tuple[Path, Path]:
    from scim2_server.utils import load_default_resource_types, load_default_schemas

    schemas = [s.model_dump() for s in load_default_schemas().values()]
    schemas.append({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": CUSTOM, "name": "LearningUser", "description": "Learning platform extension",
        "attributes": [{"name": name, "type": "string", "multiValued": False,
                        "description": name, "required": False, "caseExact": False,
                        "mutability": "readWrite", "returned": "default",
                        "uniqueness": "none"} for name in ("costCenter", "badge")],
    })
    types = [t.model_dump() for t in load_default_resource_types().values()
             if groups or t.id != "Group"]
    for t in types:
        if t["id"] == "User":
            t["schemaExtensions"].append({"schema": CUSTOM, "required": False})
    (folder / "schemas.json").write_text(json.dumps(schemas), encoding="utf-8")
    (folder / "types.json").write_text(json.dumps(types), encoding="utf-8")
    return folder / "schemas.json", folder / "types.json"


def _wait(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"scim2-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("scim2-server did not listen in time")


def start(folder: Path, config: dict[str, Any] | None = None, *, groups: bool = True
          ) -> Iterator[ScimServer]:
    """Run scim2-server until the generator is closed (without a Group resource type when
    ``groups`` is false); skip or fail without it."""
    command = _command()
    if command is None:
        message = "scim2-server not installed (pip install -e '.[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    schemas, types = _schemas(folder, groups)
    port = _free_port()
    args = [command, "--hostname", "127.0.0.1", "--port", str(port), "--bearer-token", TOKEN,
            "--dynamic-tenants", "--schema", str(schemas), "--resource-type", str(types)]
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        args += ["--service-provider-config", str(folder / "config.json")]
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(port, proc)
        os.environ[TOKEN_ENV] = TOKEN
        yield ScimServer(port, TOKEN, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Neither PATCH nor Bulk: every change is a GET then a PUT with If-Match.
PLAIN_CONFIG = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": False},
    "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
    "filter": {"supported": True, "maxResults": 200},
    "changePassword": {"supported": False},
    "sort": {"supported": False},
    "etag": {"supported": True},
    "authenticationSchemes": [],
    # Cursor pagination only (RFC 9865), small pages: listings follow nextCursor.
    "pagination": {"cursor": True, "index": False, "defaultPaginationMethod": "cursor",
                   "defaultPageSize": 2, "maxPageSize": 2, "cursorTimeout": 600},
}


def canonical_groups(server: ScimServer, url: str) -> list[tuple[Any, ...]]:
    """Every Group of the tenant as (displayName, externalId or "", members'
    externalIds), sorted: two runs that left the same groups give equal values."""
    ids = {u["id"]: u.get("externalId") for u in server.users(url)}
    return sorted((g.get("displayName"), g.get("externalId") or "",
                   tuple(sorted(str(ids.get(m["value"], m["value"]))
                                for m in g.get("members") or [])))
                  for g in server.resources(url, "Groups"))
