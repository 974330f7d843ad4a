"""Errors of the pipeline box."""

from __future__ import annotations

from dataclasses import dataclass, field

from filebridge.errors import Terminal


@dataclass
class UnknownConnection(Terminal):
    """A command named a connection that settings.yaml does not define."""

    name: str
    known: list[str] = field(default_factory=list)
    code: str = "unknown-connection"

    def __str__(self) -> str:
        return f"no connection {self.name!r} in settings (configured: {', '.join(self.known)})"


@dataclass
class NoImportMapping(Terminal):
    """The connection has no import mapping configured."""

    connection: str
    code: str = "no-import-mapping"

    def __str__(self) -> str:
        return f"connection {self.connection!r} has no import_mapping in settings"


@dataclass
class UnknownFile(Terminal):
    """A file id or path that the ledger does not know."""

    ref: str
    code: str = "unknown-file"

    def __str__(self) -> str:
        return f"no file {self.ref!r} in the ledger (see `filebridge history`)"
