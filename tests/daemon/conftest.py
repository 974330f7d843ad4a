"""Daemon test fixtures: workspaces (settings, schedules, drop folders) under tmp_path, and
real servers on loopback for notifications: SMTP (aiosmtpd) and HTTP (http.server)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import _free_port
from tests.pipeline.conftest import write_workspace

LOCAL = '{type: local, inbox: drop/acme, pattern: "acme_*.csv", ready: {stable_seconds: 0}}'


def workspace(root: Path, schedule: str | None = None, extra: str = "",
              transport: str = LOCAL) -> Path:
    """A workspace whose inboxes take files at once, with ``schedules/acme.yaml``.

    ``extra`` is appended to settings.yaml (top-level keys such as notifications).
    """
    settings = write_workspace(root, transport=transport)
    # The acme-xml inbox takes files at once too: no 10 s stability wait in tests.
    text = settings.read_text(encoding="utf-8").replace(
        'pattern: "*.xml"}', 'pattern: "*.xml", ready: {stable_seconds: 0}}')
    settings.write_text(text, encoding="utf-8")
    if extra:
        settings.write_text(settings.read_text(encoding="utf-8") + extra, encoding="utf-8")
    if schedule is not None:
        (root / "schedules").mkdir(exist_ok=True)
        (root / "schedules" / "acme.yaml").write_text(schedule, encoding="utf-8")
    return settings


def drop(settings: Path, source: Path, name: str, inbox: str = "drop/acme") -> Path:
    """Put ``source`` into the inbox as ``name`` atomically (temporary name, then rename)."""
    folder = settings.parent / inbox
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{name}.tmp"
    shutil.copy(source, part)
    stamp = time.time() - 60
    os.utime(part, (stamp, stamp))
    target = folder / name
    os.replace(part, target)
    return target


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class Hook:
    """What a local HTTP server received: (path, headers, JSON body) per POST."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[tuple[str, dict[str, str], dict[str, Any]]] = []


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """An SMTP server on 127.0.0.1: (port, inbox)."""
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture
def http_server() -> Iterator[tuple[str, Hook]]:
    """An HTTP server on 127.0.0.1 recording POSTs: (url, hook); set hook.status to fail."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.posts.append((self.path, dict(self.headers), json.loads(body)))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", hook
    server.shutdown()
    server.server_close()
