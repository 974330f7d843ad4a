"""Where files come from and go to: a local drop folder or an SFTP server.

``open_transport(config, base_dir=..., spool_dir=...)`` builds a ``Transport`` from
a connection's ``transport:`` block. Transports know names, sizes and folders,
never file contents.

Names are loaded on first use: ``filebridge.transports.errors`` (which every command's
error handling needs) must not pull in the SSH client (about 0.1 s of imports).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filebridge.transports.base import (
        Claimed,
        Fetched,
        RemoteFile,
        Skipped,
        Transport,
        wait_ready,
    )
    from filebridge.transports.factory import open_transport
    from filebridge.transports.hostkeys import fetch_host_key, pin_host_key

_LAZY = {
    "Claimed": "filebridge.transports.base",
    "Fetched": "filebridge.transports.base",
    "RemoteFile": "filebridge.transports.base",
    "Skipped": "filebridge.transports.base",
    "Transport": "filebridge.transports.base",
    "wait_ready": "filebridge.transports.base",
    "open_transport": "filebridge.transports.factory",
    "fetch_host_key": "filebridge.transports.hostkeys",
    "pin_host_key": "filebridge.transports.hostkeys",
}

__all__ = [
    "Claimed",
    "Fetched",
    "RemoteFile",
    "Skipped",
    "Transport",
    "fetch_host_key",
    "open_transport",
    "pin_host_key",
    "wait_ready",
]


def __getattr__(name: str) -> Any:
    """Import the transport classes on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'filebridge.transports' has no attribute {name!r}")
