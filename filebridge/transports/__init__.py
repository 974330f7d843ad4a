"""Where files come from and go to: a local drop folder or an SFTP server.

``open_transport(config, base_dir=..., spool_dir=...)`` builds a ``Transport`` from
a connection's ``transport:`` block. Transports know names, sizes and folders,
never file contents.
"""

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
