"""Errors of the transports box: where files come from and go to.

Each error carries fields (host, port, step, path, fingerprint, ...) rather than
prose, so the ledger can store them and ``filebridge/cli/errors.py`` can word
them. Messages never contain secrets; remote names are shown with ``ascii()``
so a hostile name cannot reorder or hide text on a terminal.
"""

from __future__ import annotations

from filebridge.errors import FilebridgeError, Terminal, Transient


class TransportError(FilebridgeError):
    """Base of every transport error."""

    code = "transport-error"


class TransportUnavailable(TransportError, Transient):
    """The server could not be reached, timed out or dropped the connection at ``step``."""

    code = "transport-unavailable"

    def __init__(self, host: str, port: int, step: str, detail: str) -> None:
        self.host, self.port, self.step, self.detail = host, port, step, detail
        super().__init__(f"{host}:{port} unavailable during {step}: {detail}")


class HostKeyRejected(TransportError, Terminal):
    """The server offered a host key that is not pinned for this connection."""

    code = "host-key-rejected"

    def __init__(self, host: str, port: int, key_type: str, fingerprint: str, reason: str) -> None:
        self.host, self.port, self.key_type = host, port, key_type
        self.fingerprint, self.reason = fingerprint, reason
        super().__init__(
            f"{host}:{port} offered {reason} host key {key_type} {fingerprint}; refused")


class AuthenticationFailed(TransportError, Terminal):
    """The server refused our key or password, or the key file could not be used."""

    code = "authentication-failed"

    def __init__(self, host: str, port: int, username: str, detail: str) -> None:
        self.host, self.port, self.username, self.detail = host, port, username, detail
        super().__init__(f"{username}@{host}:{port}: authentication failed: {detail}")


class RemotePathError(TransportError, Terminal):
    """An operation on one path failed for a reason retrying will not fix."""

    code = "remote-path-error"

    def __init__(self, path: str, operation: str, detail: str) -> None:
        self.path, self.operation, self.detail = path, operation, detail
        super().__init__(f"cannot {operation} {path}: {detail}")


class PermissionDenied(RemotePathError):
    """The server or the local filesystem refused access to ``path``."""

    code = "permission-denied"


class TargetExists(RemotePathError):
    """A move or delivery would overwrite an existing file; we never overwrite."""

    code = "target-exists"


class HostileName(TransportError, Terminal):
    """A remote file name that could escape a folder or mislead a reader; refused, never cleaned."""

    code = "hostile-name"

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = ascii(name), reason
        super().__init__(f"refused file name {self.name}: {reason}")


class FileTooLarge(TransportError, Terminal):
    """The file is larger than ``max_file_bytes``; refused before download."""

    code = "file-too-large"

    def __init__(self, name: str, size: int, limit: int) -> None:
        self.name, self.size, self.limit = ascii(name), size, limit
        super().__init__(f"{self.name} is {size} bytes, over the limit of {limit} (max_file_bytes)")


class FileChangedDuringFetch(TransportError, Transient):
    """The file's size or mtime changed while it was downloaded; the copy was discarded."""

    code = "file-changed-during-fetch"

    def __init__(self, name: str, before: tuple[int, float], after: tuple[int, float]) -> None:
        self.name, self.before, self.after = ascii(name), before, after
        super().__init__(f"{self.name} changed while downloading (size, mtime {before} -> {after})")


class SpoolWriteFailed(TransportError, Transient):
    """Writing the local spool copy failed (disk full, I/O error); nothing was kept."""

    code = "spool-write-failed"

    def __init__(self, spool_dir: str, errno: int | None, detail: str) -> None:
        self.spool_dir, self.errno, self.detail = spool_dir, errno, detail
        super().__init__(f"cannot write the spool folder {spool_dir}: {detail}")


class TransportConfigError(TransportError, Terminal):
    """The transport block of a connection is unusable."""

    code = "transport-config-error"

    def __init__(self, key: str, detail: str) -> None:
        self.key, self.detail = key, detail
        super().__init__(f"transport.{key}: {detail}")
