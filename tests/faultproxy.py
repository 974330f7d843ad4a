"""A small HTTP proxy on 127.0.0.1 that misbehaves on purpose, in front of a real server.

Each request is matched against the proxy's rules in order; the first rule that matches
and still has uses left decides what happens:

- ``status``: answer with that status (429 with ``Retry-After``, 500, 503…) without
  forwarding: the server never sees the request;
- ``slow``: forward, then hold the answer ``seconds`` (past the client's deadline);
- ``drop_before``: close the connection without forwarding;
- ``drop_after``: forward (the server does the work), then close the connection
  without answering: the client cannot know what happened.

Anything else is forwarded as it is. ``log`` records (method, path, what happened).

Beside the rules, ``rewrite_requests`` and ``rewrite_answers`` are (old, new) byte
replacements made in every forwarded request body and every answer body: a server that
behaves differently from the real one underneath (say, one that stores a reference as
text instead of resolving it). ``bodies`` keeps each forwarded request body as sent by
the client.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Match = Callable[[str, str, bytes], bool]


def any_request(method: str, path: str, body: bytes) -> bool:
    """Every request."""
    return True


def writes(method: str, path: str, body: bytes) -> bool:
    """Requests that change something (not the discovery and lookup GETs)."""
    return method != "GET"


@dataclass
class Rule:
    """What to do with matching requests, ``times`` times (None: always)."""

    action: str
    match: Match = any_request
    times: int | None = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after: int = 0  # let this many matching requests pass first


class FaultProxy:
    """The proxy; ``url(tenant_path)`` is the address a client uses instead."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []
        self.rewrite_requests: list[tuple[bytes, bytes]] = []
        self.rewrite_answers: list[tuple[bytes, bytes]] = []
        self.bodies: list[tuple[str, str, bytes]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.serve(self, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, upstream_url: str) -> str:
        """``upstream_url`` with the proxy's port instead of the server's."""
        return upstream_url.replace(f":{self.upstream_port}/", f":{self.port}/")

    def _rule(self, method: str, path: str, body: bytes) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if (rule.times is None or rule.times > 0) and rule.match(method, path, body):
                    if rule.after > 0:
                        rule.after -= 1
                        return None
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    def serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        """Answer one request as the rules say."""
        method, path = handler.command, handler.path
        rule = self._rule(method, path, body)
        action = rule.action if rule else "forward"
        self.log.append((method, path, action))
        if rule is not None and rule.action == "status":
            payload = (b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], '
                       b'"status": "%d", "detail": "injected by the test proxy"}'
                       % rule.status)
            handler.send_response(rule.status)
            for k, v in {"Content-Type": "application/scim+json", **rule.headers}.items():
                handler.send_header(k, v)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        if rule is not None and rule.action == "drop_before":
            handler.close_connection = True
            handler.connection.close()
            return
        self.bodies.append((method, path, body))
        for old, new in self.rewrite_requests:
            body = body.replace(old, new)
        status, headers, answer = self._forward(method, path, handler.headers.items(), body)
        for old, new in self.rewrite_answers:
            answer = answer.replace(old, new)
        if rule is not None and rule.action == "drop_after":
            handler.close_connection = True
            handler.connection.close()
            return
        if rule is not None and rule.action == "slow":
            time.sleep(rule.seconds)
        handler.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
                 ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            # http.client sets the length of the body as (maybe) rewritten.
            sent = {k: v for k, v in headers
                    if k.lower() not in ("host", "connection", "content-length")}
            conn.request(method, path, body=body or None, headers=sent)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
