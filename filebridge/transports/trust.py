"""Host-key trust for an SFTP connection: what the server offers, what is pinned, pinning.

Nothing here accepts a key by itself: ``inspect_host_key`` only looks, and
``pin_offered_key`` writes the connection's own known_hosts file when a person (the
``trust`` command) has confirmed the fingerprint. A key that replaces a different
pinned key needs ``replace=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import paramiko

from filebridge.errors import Terminal
from filebridge.transports import fetch_host_key, pin_host_key
from filebridge.transports.errors import TransportConfigError
from filebridge.transports.hostkeys import host_key_name
from filebridge.transports.settings import parse_timeouts

TrustState = Literal["trusted", "unknown", "changed"]


class PinnedKeyDiffers(Terminal):
    """A different key is already pinned for the host; replacing it needs ``--replace``."""

    code = "pinned-key-differs"

    def __init__(self, host: str, port: int, pinned: list[str], offered: str) -> None:
        self.host, self.port, self.pinned, self.offered = host, port, pinned, offered
        super().__init__(
            f"{host}:{port} now offers {offered}, but {', '.join(pinned)} is pinned: the "
            "server's key CHANGED")


@dataclass(frozen=True)
class HostKeyOffer:
    """The key a server offers and how it compares with what this connection pins."""

    connection: str
    host: str
    port: int
    key_type: str
    fingerprint: str
    known_hosts: Path | None
    pinned: tuple[str, ...]  # "type SHA256:..." of keys already pinned for this host
    state: TrustState
    key: paramiko.PKey = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no key material beyond the public fingerprint)."""
        return {"connection": self.connection, "host": self.host, "port": self.port,
                "key_type": self.key_type, "fingerprint": self.fingerprint,
                "known_hosts": None if self.known_hosts is None else str(self.known_hosts),
                "pinned": list(self.pinned), "state": self.state}


def _pinned_keys(cfg: dict[str, Any], known_hosts: Path | None, host: str,
                 port: int) -> list[tuple[str, str]]:
    pinned: list[tuple[str, str]] = []
    if known_hosts is not None and known_hosts.exists():
        keys = paramiko.HostKeys(str(known_hosts))
        for key_type, key in (keys.lookup(host_key_name(host, port)) or {}).items():
            pinned.append((key_type, key.fingerprint))
    if cfg.get("host_key_fingerprint"):
        pinned.append(("fingerprint", str(cfg["host_key_fingerprint"]).strip().rstrip("=")))
    return pinned


def inspect_host_key(connection: str, cfg: dict[str, Any], base_dir: Path) -> HostKeyOffer:
    """Connect without logging in and compare the offered key with the pinned ones.

    ``cfg`` is the connection's transport block; relative paths in it are under ``base_dir``.
    """
    if cfg.get("type") != "sftp":
        raise TransportConfigError("type", f"connection {connection!r} is not an SFTP "
                                   "connection; only SFTP servers have host keys")
    host, port = str(cfg["host"]), int(cfg.get("port", 22))
    known_hosts = (base_dir / str(cfg["known_hosts"])
                   if cfg.get("known_hosts") else None)
    key_type, fingerprint, key = fetch_host_key(host, port, parse_timeouts(
        cfg.get("timeouts")).connect)
    pinned = _pinned_keys(cfg, known_hosts, host, port)
    # Only a pin of the same key type (or a bare fingerprint) can contradict the offer; a
    # server also has keys of other types, and paramiko negotiates a pinned type first.
    rivals = [fp for t, fp in pinned if t in (key_type, "fingerprint")]
    state: TrustState = ("trusted" if any(fp == fingerprint for _, fp in pinned)
                         else "changed" if rivals else "unknown")
    return HostKeyOffer(connection, host, port, key_type, fingerprint, known_hosts,
                        tuple(f"{t} {fp}" for t, fp in pinned), state, key)


def check_pinnable(offer: HostKeyOffer, *, replace: bool = False) -> Path:
    """The known_hosts file the offer would be pinned in; raises if it must not be."""
    if offer.known_hosts is None:
        raise TransportConfigError(
            "known_hosts", f"connection {offer.connection!r} has no known_hosts file to pin "
            f"{offer.key_type} {offer.fingerprint} into")
    if offer.state == "changed" and not replace:
        raise PinnedKeyDiffers(offer.host, offer.port, list(offer.pinned),
                               f"{offer.key_type} {offer.fingerprint}")
    return offer.known_hosts


def pin_offered_key(offer: HostKeyOffer, *, replace: bool = False) -> Path:
    """Write the offered key into the connection's known_hosts; returns that file.

    Call it only after a person confirmed the fingerprint.
    """
    known_hosts = check_pinnable(offer, replace=replace)
    pin_host_key(known_hosts, offer.host, offer.port, offer.key)
    return known_hosts
