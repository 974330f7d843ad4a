"""Build a transport from a connection's ``transport:`` block."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filebridge.durable import private_folder
from filebridge.transports.base import Transport
from filebridge.transports.errors import TransportConfigError
from filebridge.transports.local import LocalTransport
from filebridge.transports.settings import WATCH_MODES, parse_common, parse_timeouts
from filebridge.transports.sftp import SftpTransport
from filebridge.transports.sftp_auth import SecretResolver, SshSettings, default_resolver


def _path(base_dir: Path, value: Any) -> Path | None:
    return None if value is None else base_dir / str(value)


def ssh_settings(config: Mapping[str, Any], base_dir: Path) -> SshSettings:
    """Parse the SFTP login keys; refuses a connection without a pinned host key."""
    for key in ("host", "username"):
        if not config.get(key):
            raise TransportConfigError(key, "is required for type sftp")
    if not config.get("known_hosts") and not config.get("host_key_fingerprint"):
        raise TransportConfigError(
            "known_hosts", "an SFTP connection needs known_hosts or host_key_fingerprint"
        )
    if not config.get("private_key") and not config.get("password"):
        raise TransportConfigError(
            "private_key", "an SFTP connection needs private_key or password"
        )
    return SshSettings(
        host=str(config["host"]),
        username=str(config["username"]),
        port=int(config.get("port", 22)),
        private_key=_path(base_dir, config.get("private_key")),
        private_key_passphrase=config.get("private_key_passphrase"),
        password=config.get("password"),
        known_hosts=_path(base_dir, config.get("known_hosts")),
        host_key_fingerprint=config.get("host_key_fingerprint"),
        timeouts=parse_timeouts(config.get("timeouts")),
        max_prefetch=int(config.get("max_concurrent_prefetch_requests", 64)),
    )


def open_transport(
    config: Mapping[str, Any],
    *,
    base_dir: Path,
    spool_dir: Path,
    resolve_secret: SecretResolver | None = None,
) -> Transport:
    """A transport for one connection; SFTP connects lazily, on first use.

    ``spool_dir`` is where the daemon will fetch to; it is created here so a
    missing or unwritable spool is reported at start-up rather than mid-run.
    """
    common = parse_common(config)
    try:
        private_folder(spool_dir)
    except OSError as exc:
        raise TransportConfigError("spool", f"cannot create {spool_dir}: {exc.strerror}") from None
    kind = config.get("type")
    if kind == "local":
        mode = config.get("watch_mode", "events")
        if mode not in WATCH_MODES:
            raise TransportConfigError("watch_mode", f"{mode!r} is not one of {list(WATCH_MODES)}")
        return LocalTransport(common, base_dir, watch_mode=mode)
    if kind == "sftp":
        resolver = resolve_secret or default_resolver()
        return SftpTransport(common, ssh_settings(config, base_dir), resolver)
    raise TransportConfigError("type", f"{kind!r} is not one of ['local', 'sftp']")
