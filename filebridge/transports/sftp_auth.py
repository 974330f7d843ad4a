"""Opening an SFTP session: every step with its own deadline, strict keys, no implicit ~/.ssh.

Steps and their deadlines: TCP connect, banner + key exchange, authentication,
channel open, and every SFTP request after that (``read``). A failure names the
host and the step; a timeout or a dropped connection is ``TransportUnavailable``
(retry later), a refused key or password is ``AuthenticationFailed`` (retrying
cannot help). Secrets are resolved at connect time and never stored on objects
that get logged, nor put in messages.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from filebridge.errors import FilebridgeError
from filebridge.transports.errors import (
    AuthenticationFailed,
    HostKeyRejected,
    TransportConfigError,
    TransportUnavailable,
)
from filebridge.transports.hostkeys import StrictHostKeyPolicy
from filebridge.transports.settings import SftpTimeouts

SecretResolver = Callable[[str], str]


class _HandshakeNoise(logging.Filter):
    """paramiko's transport thread logs a failed handshake (a banner that never comes, a
    socket we closed at a deadline) as a dozen ERROR lines with a traceback, and the CLI,
    which sets up no logging, would print them. filebridge reports that same failure once,
    as a ``TransportUnavailable``; paramiko's lines stay available at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


for _name in ("paramiko.transport", "paramiko.transport.sftp"):
    logging.getLogger(_name).addFilter(_HandshakeNoise())

# paramiko's default channel window (2 MiB) equals 64 prefetched 32 KiB reads; with
# the response headers on top the server then waits for window adjustments and a
# 100 MB download crawls at ~5 MB/s. A larger window keeps the capped prefetch fast.
WINDOW_BYTES = 16 << 20


def resolve_secret_local(ref: str, env: Mapping[str, str] = os.environ) -> str:
    """Resolve ``${env:NAME}`` or ``file:/path`` (used until filebridge.config.secrets exists)."""
    if ref.startswith("${env:") and ref.endswith("}"):
        name = ref[6:-1]
        if name not in env:
            raise TransportConfigError("secret", f"environment variable {name} is not set")
        return env[name]
    if ref.startswith("file:/"):
        try:
            return Path(ref[5:]).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise TransportConfigError("secret", f"cannot read {ref[5:]}: {exc.strerror}") from None
    raise TransportConfigError(
        "secret", "must be ${env:NAME} or file:/path, never the secret itself"
    )


def default_resolver() -> SecretResolver:
    """The shared resolver from filebridge.config.secrets when present, else the local one."""
    try:
        from filebridge.config.secrets import resolve_secret  # type: ignore[import-not-found]
    except ImportError:
        return resolve_secret_local
    return resolve_secret  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SshSettings:
    """Where and how to log in; secrets stay references until connect time."""

    host: str
    username: str
    port: int = 22
    private_key: Path | None = None
    private_key_passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    known_hosts: Path | None = None
    host_key_fingerprint: str | None = None
    timeouts: SftpTimeouts = SftpTimeouts()
    max_prefetch: int = 64


def _load_key(s: SshSettings, resolve: SecretResolver) -> paramiko.PKey | None:
    if s.private_key is None:
        return None
    passphrase = None if s.private_key_passphrase is None else resolve(s.private_key_passphrase)
    try:
        secret = None if passphrase is None else passphrase.encode("utf-8")
        return paramiko.PKey.from_path(s.private_key, secret)  # type: ignore[arg-type]
    except paramiko.PasswordRequiredException:
        detail = f"key file {s.private_key} needs a passphrase (private_key_passphrase)"
    except (paramiko.SSHException, ValueError):
        detail = f"cannot load key file {s.private_key} (wrong passphrase or unsupported type)"
    except OSError as exc:
        detail = f"cannot read key file {s.private_key}: {exc.strerror}"
    raise AuthenticationFailed(s.host, s.port, s.username, detail)


def _step(client: paramiko.SSHClient, exc: BaseException) -> str:
    """Which step failed, for the message: banner, key exchange or auth."""
    t = client.get_transport()
    if t is None or not t.remote_version or "banner" in str(exc).lower():
        return "banner"
    if t.host_key is None:
        return "key exchange"
    return "auth"


def connect(
    s: SshSettings, resolve: SecretResolver
) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
    """Log in and open an SFTP channel whose every request times out after ``timeouts.read``."""
    t = s.timeouts
    pkey = _load_key(s, resolve)
    client = paramiko.SSHClient()
    if s.known_hosts is not None:
        try:
            client.load_host_keys(str(s.known_hosts))
        except OSError as exc:
            detail = f"cannot read {s.known_hosts}: {exc.strerror}"
            raise TransportConfigError("known_hosts", detail) from None
    client.set_missing_host_key_policy(StrictHostKeyPolicy(s.host, s.port, s.host_key_fingerprint))
    try:
        sock = socket.create_connection((s.host, s.port), timeout=t.connect)
    except TimeoutError:
        raise TransportUnavailable(
            s.host, s.port, "connect", f"no answer in {t.connect:g}s"
        ) from None
    except OSError as exc:
        raise TransportUnavailable(s.host, s.port, "connect", exc.strerror or str(exc)) from None
    password = None if s.password is None else resolve(s.password)
    try:
        client.connect(
            s.host,
            s.port,
            s.username,
            password=password,
            pkey=pkey,
            sock=sock,
            timeout=t.banner,
            banner_timeout=t.banner,
            auth_timeout=t.auth,
            channel_timeout=t.channel,
            look_for_keys=False,
            allow_agent=False,
        )
        return client, _open_sftp(client, s)
    except BaseException as exc:
        error = _translate(client, s, exc)  # before close(): it reads the transport's state
        client.close()
        sock.close()
        raise error from None


def _translate(client: paramiko.SSHClient, s: SshSettings, exc: BaseException) -> BaseException:
    if isinstance(exc, FilebridgeError):
        return exc  # already ours (host key refused, secret unusable, ...)
    if isinstance(exc, paramiko.BadHostKeyException):
        key = exc.key
        return HostKeyRejected(s.host, s.port, key.get_name(), key.fingerprint, "changed")
    if isinstance(exc, paramiko.AuthenticationException):
        if "timeout" in str(exc).lower():
            return TransportUnavailable(
                s.host, s.port, "auth", f"no answer in {s.timeouts.auth:g}s"
            )
        methods = getattr(exc, "allowed_types", None)
        detail = "key or password refused" + (f" (server allows {methods})" if methods else "")
        return AuthenticationFailed(s.host, s.port, s.username, detail)
    if isinstance(exc, paramiko.SSHException | OSError | EOFError):
        step = _step(client, exc)
        detail = str(exc) or type(exc).__name__
        if detail == "No existing session":  # paramiko's words for a login that timed out
            deadline = s.timeouts.auth if step == "auth" else s.timeouts.banner
            detail = f"no answer in {deadline:g}s"
        return TransportUnavailable(s.host, s.port, step, detail)
    return exc


def _open_sftp(client: paramiko.SSHClient, s: SshSettings) -> paramiko.SFTPClient:
    """Open the channel ourselves so its timeout is set before the SFTP version handshake."""
    transport = client.get_transport()
    assert transport is not None  # connect() succeeded
    try:
        chan = transport.open_session(window_size=WINDOW_BYTES, timeout=s.timeouts.channel)
        chan.settimeout(s.timeouts.read)
        chan.invoke_subsystem("sftp")
        sftp = paramiko.SFTPClient(chan)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        detail = str(exc) or type(exc).__name__
        raise TransportUnavailable(s.host, s.port, "channel open", detail) from None
    sftp.get_channel().settimeout(s.timeouts.read)
    return sftp


class StallWatchdog:
    """Closes the SSH transport when a transfer makes no progress for ``stall`` seconds.

    Channel timeouts bound one request; this bounds a transfer whose requests keep
    trickling (or a prefetch thread that waits forever) by wall clock.
    """

    def __init__(self, transport: paramiko.Transport, stall: float) -> None:
        self.transport, self.stall = transport, stall
        self.last = time.monotonic()
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filebridge-stall", daemon=True)

    def progress(self, *_: object) -> None:
        """Record progress (usable as a paramiko callback)."""
        self.last = time.monotonic()

    def _run(self) -> None:
        while not self._done.wait(min(self.stall / 4, 1.0)):
            if time.monotonic() - self.last > self.stall:
                self.fired = True
                self.transport.close()
                return

    def __enter__(self) -> StallWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
