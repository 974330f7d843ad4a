"""Deliver one local file to a connection's outbox by hand (``filebridge deliver``).

The transport uploads under a temporary name and renames it, so the other side never
sees a partial file, and an existing file of the same name is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filebridge.pipeline.context import Context
from filebridge.pipeline.pickup import open_connection_transport
from filebridge.pipeline.spool import sha256_of


@dataclass(frozen=True)
class Delivery:
    """One delivered file: where it went and what it was."""

    connection: str
    file: str
    delivered_to: str
    size: int
    sha256: str
    done_marker: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"connection": self.connection, "file": self.file,
                "delivered_to": self.delivered_to, "size": self.size, "sha256": self.sha256,
                "done_marker": self.done_marker}


def deliver_file(ctx: Context, connection: str, local: Path, *, name: str | None = None,
                 done_marker: bool = False) -> Delivery:
    """Upload ``local`` to ``connection``'s outbox as ``name`` (default: its own name)."""
    sha256, size = sha256_of(local)
    target = name or local.name
    # The connection's lock, like an export: two deliveries of one name never interleave
    # (each removes the part file a killed delivery of that name left behind).
    with ctx.ledger.lock(connection):
        transport = open_connection_transport(ctx, connection)
        try:
            where = transport.deliver(local, target, done_marker=done_marker)
        finally:
            transport.close()
    return Delivery(connection, target, where, size, sha256, done_marker)
