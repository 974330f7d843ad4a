"""Errors of the SCIM target: a server that cannot be reached, refuses the token, or
answers outside the protocol. A person the server refuses is no error: it is a
``ChangeOutcome`` of the run."""

from __future__ import annotations

from filebridge.errors import Terminal, Transient
from filebridge.lms.errors import StoreError


class ScimError(StoreError):
    """Base of every error of the SCIM target."""

    code = "scim-error"


class ScimUnavailable(ScimError, Transient):
    """The server did not answer in time or kept failing (429, 5xx, dropped connections)
    after every retry; what was confirmed before is recorded, the rest waits for the
    next run."""

    code = "scim-unavailable"

    def __init__(self, connection: str, url: str, reason: str, done: int = 0) -> None:
        super().__init__(f"{connection}: SCIM server {url} unavailable: {reason}")
        self.connection = connection
        self.url = url
        self.reason = reason
        self.done = done


class ScimRefused(ScimError, Terminal):
    """The server refused the connection's token (401) or its rights (403)."""

    code = "scim-token-refused"

    def __init__(self, connection: str, url: str, status: int) -> None:
        super().__init__(f"{connection}: SCIM server {url} refused the token ({status})")
        self.connection = connection
        self.url = url
        self.status = status


class ScimProtocolError(ScimError, Terminal):
    """The server answered something a SCIM 2.0 service provider may not (no JSON, a
    missing User resource type, an unreadable listing)."""

    code = "scim-protocol-error"

    def __init__(self, connection: str, url: str, reason: str) -> None:
        super().__init__(f"{connection}: SCIM server {url}: {reason}")
        self.connection = connection
        self.url = url
        self.reason = reason


class ScimNotConfigured(ScimError, Terminal):
    """A connection without a SCIM target was asked of the SCIM target."""

    code = "scim-not-configured"

    def __init__(self, connection: str) -> None:
        super().__init__(f"{connection}: no SCIM target is configured for this connection")
        self.connection = connection
