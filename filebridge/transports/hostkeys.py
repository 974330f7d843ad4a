"""Strict host keys: only this connection's known_hosts file or a pinned fingerprint.

There is no "accept on first use": an unknown or changed key raises
``HostKeyRejected`` with the offered key's SHA256 fingerprint before any password
or signature leaves this machine. ``fetch_host_key`` and ``pin_host_key`` are the
building blocks of ``filebridge trust``, where a person checks the fingerprint.
"""

from __future__ import annotations

import hmac
import os
import socket
from pathlib import Path
from typing import Any

import paramiko

from filebridge.transports.errors import HostKeyRejected, TransportUnavailable


def host_key_name(host: str, port: int) -> str:
    """The name OpenSSH and paramiko use for ``host:port`` in known_hosts."""
    return host if port == 22 else f"[{host}]:{port}"


def _normalise(fingerprint: str) -> str:
    return fingerprint.strip().rstrip("=")


class StrictHostKeyPolicy(paramiko.RejectPolicy):
    """RejectPolicy that accepts only a pinned fingerprint and says what was offered.

    paramiko calls it only for keys absent from the loaded known_hosts; a changed
    key never gets here (``BadHostKeyException``), it is mapped by the caller.
    """

    def __init__(self, host: str, port: int, pinned: str | None) -> None:
        self.host, self.port = host, port
        self.pinned = None if pinned is None else _normalise(pinned)

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        """Accept the pinned key; refuse anything else with its fingerprint."""
        offered = key.fingerprint
        if self.pinned is not None and hmac.compare_digest(offered, self.pinned):
            return
        reason = "changed" if self.pinned is not None else "unknown"
        raise HostKeyRejected(self.host, self.port, key.get_name(), offered, reason)


def fetch_host_key(host: str, port: int, timeout: float) -> tuple[str, str, paramiko.PKey]:
    """Connect without authenticating and return (key_type, SHA256 fingerprint, key)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise TransportUnavailable(host, port, "connect", str(exc)) from None
    t = paramiko.Transport(sock)
    t.banner_timeout = timeout
    try:
        t.start_client(timeout=timeout)
        key = t.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TransportUnavailable(
            host, port, "key exchange", str(exc) or type(exc).__name__
        ) from None
    finally:
        t.close()
    return key.get_name(), key.fingerprint, key


def pin_host_key(known_hosts_path: Path, host: str, port: int, key: paramiko.PKey) -> None:
    """Add (or replace) ``host:port``'s key in a connection's own known_hosts file, atomically."""
    keys = paramiko.HostKeys()
    if known_hosts_path.exists():
        keys.load(str(known_hosts_path))
    name = host_key_name(host, port)
    keys.pop(name, None)
    keys.add(name, key.get_name(), key)
    known_hosts_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = known_hosts_path.with_name(f".{known_hosts_path.name}.tmp")
    keys.save(str(tmp))
    os.replace(tmp, known_hosts_path)
