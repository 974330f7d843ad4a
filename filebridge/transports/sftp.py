"""SFTP transport: the local folder's promises over paramiko, with a deadline on every step.

The connection is opened lazily and re-opened after a failure, so a daemon keeps
one ``SftpTransport`` per connection across polls (the stability memory lives in
it). Remote moves use SFTP ``rename``, which OpenSSH implements as link + unlink
and so never overwrites; we also check the target first for other servers.
"""

from __future__ import annotations

import errno
import hashlib
import posixpath
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import paramiko

from filebridge.errors import FilebridgeError
from filebridge.failpoints import failpoint
from filebridge.transports.base import (
    Claimed,
    Entry,
    EntryKind,
    Fetched,
    KeptFolder,
    RemoteFile,
    Selector,
    Skipped,
    collision_names,
    day_folder,
    error_text,
)
from filebridge.transports.errors import (
    FileChangedDuringFetch,
    FileTooLarge,
    PermissionDenied,
    RemotePathError,
    TargetExists,
    TransportConfigError,
    TransportUnavailable,
)
from filebridge.transports.names import (
    check_name,
    is_ignored,
    leftover_parts,
    matches,
    name_problem,
    part_name,
)
from filebridge.transports.settings import CommonSettings
from filebridge.transports.sftp_auth import SecretResolver, SshSettings, StallWatchdog, connect
from filebridge.transports.sftp_paths import exists, expire_files, makedirs, rename_atomic
from filebridge.transports.spool import SizeMismatch, SpoolWriter

T = TypeVar("T")
CHUNK = 32768  # paramiko's own read size; prefetch responses arrive in this size


def _kind(mode: int | None) -> EntryKind:
    mode = mode or 0
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "other"


class SftpTransport:
    """Transport over an SFTP server (``type: sftp``)."""

    def __init__(self, settings: CommonSettings, ssh: SshSettings, resolve: SecretResolver) -> None:
        self.settings, self.ssh, self._resolve = settings, ssh, resolve
        f = settings.folders
        self.inbox = f.inbox
        self.processing = posixpath.join(f.inbox, f.processing)
        self.archive_dir = posixpath.join(f.inbox, f.archive)
        self.rejected_dir = posixpath.join(f.inbox, f.rejected)
        self.outbox = f.outbox
        self.selector = Selector(settings)
        self.skipped: list[Skipped] = []
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # --- connection ---------------------------------------------------------
    def _session(self) -> paramiko.SFTPClient:
        t = self._client.get_transport() if self._client else None
        if self._sftp is None or t is None or not t.is_active():
            self.close()
            self._client, self._sftp = connect(self.ssh, self._resolve)
        return self._sftp

    @contextmanager
    def _errors(self, path: str, operation: str) -> Iterator[None]:
        """Map paramiko/OS errors to transport errors naming the host, step or path."""
        try:
            yield
        except FilebridgeError:
            raise  # ours already (a refused host key, an unusable secret, ...)
        except Exception as exc:
            t = self._client.get_transport() if self._client else None
            if (
                t is None
                or not t.is_active()
                or isinstance(exc, TimeoutError | EOFError | paramiko.SSHException)
            ):
                self.close()
                detail = str(exc) or type(exc).__name__
                raise TransportUnavailable(
                    self.ssh.host, self.ssh.port, operation, detail
                ) from None
            if isinstance(exc, OSError) and exc.errno == errno.EACCES:
                raise PermissionDenied(path, operation, "permission denied") from None
            if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
                raise RemotePathError(path, operation, "no such file or folder") from None
            if isinstance(exc, UnicodeDecodeError):
                # paramiko decodes names strictly, so one such name fails the whole listing.
                detail = "a file name in it is not valid UTF-8; rename or remove that file"
                raise RemotePathError(path, operation, detail) from None
            raise RemotePathError(path, operation, str(exc) or type(exc).__name__) from None

    def _do(self, path: str, operation: str, fn: Callable[[paramiko.SFTPClient], T]) -> T:
        with self._errors(path, operation):
            return fn(self._session())

    # --- pickup -------------------------------------------------------------
    def _entries(self, folder: str) -> list[Entry]:
        # OpenSSH answers READDIR with lstat attributes: links show up as links.
        attrs = self._do(folder, "list", lambda s: s.listdir_attr(folder))
        return [
            Entry(a.filename, _kind(a.st_mode), a.st_size or 0, float(a.st_mtime or 0))
            for a in attrs
        ]

    def _read_manifest(self) -> str | None:
        name = self.settings.ready.manifest
        if not name:
            return None
        path = posixpath.join(self.inbox, name)

        def read(s: paramiko.SFTPClient) -> str | None:
            try:
                if not stat.S_ISREG(s.lstat(path).st_mode or 0):
                    return None
            except OSError:
                return None
            with s.open(path, "rb") as fh:
                return bytes(fh.read(1 << 20)).decode("utf-8", "replace")

        return self._do(path, "read manifest", read)

    def list_ready(self, now: float) -> list[RemoteFile]:
        """Finished files matching the pattern, oldest first; refused names go to ``skipped``."""
        ready, self.skipped = self.selector.select(
            self._entries(self.inbox), now, self._read_manifest
        )
        return ready

    def claim(self, f: RemoteFile) -> Claimed:
        """Rename ``f`` into processing/ on the server (atomic, never overwriting)."""
        src = posixpath.join(self.inbox, check_name(f.name))
        dst = posixpath.join(self.processing, f.name)

        def move(s: paramiko.SFTPClient) -> paramiko.SFTPAttributes:
            st = s.lstat(src)
            if not stat.S_ISREG(st.st_mode or 0):
                raise RemotePathError(src, "claim", "not a regular file")
            makedirs(s, self.processing)
            if exists(s, dst):
                raise TargetExists(dst, "claim", "already exists; never overwritten")
            s.rename(src, dst)
            return st

        st = self._do(src, "claim", move)
        self._claim_marker(f.name)
        return Claimed(f.name, dst, st.st_size or 0, float(st.st_mtime or 0))

    def _claim_marker(self, name: str) -> None:
        if self.settings.ready.mode != "done_marker":
            return
        marker = self.settings.ready.marker_for(name)
        src, dst = posixpath.join(self.inbox, marker), posixpath.join(self.processing, marker)

        def move(s: paramiko.SFTPClient) -> None:
            if not exists(s, src):
                return
            if exists(s, dst):
                s.remove(src)
            else:
                s.rename(src, dst)

        self._do(src, "claim marker", move)

    def pending_claims(self) -> list[Claimed]:
        """Files left in processing/ by a crash, oldest first; they are taken up again."""
        if not self._do(self.processing, "list", lambda s: exists(s, self.processing)):
            return []
        rule = self.settings.ready
        entries = self._entries(self.processing)
        names = {e.name for e in entries}
        markers = {rule.marker_for(n) for n in names} if rule.mode == "done_marker" else set()
        found = [
            RemoteFile(e.name, e.size, e.mtime)
            for e in entries
            if e.kind == "file"
            and not is_ignored(e.name)
            and e.name not in markers
            and name_problem(e.name) is None
            and matches(e.name, self.settings.pattern)
        ]
        for f in found:
            self._claim_marker(f.name)
        return [
            Claimed(f.name, posixpath.join(self.processing, f.name), f.size, f.mtime)
            for f in self.selector.order(found)
        ]

    def fetch(self, c: Claimed, spool_dir: Path) -> Fetched:
        """Download ``c``: size limit first, capped prefetch, stall watchdog, verified sha256."""
        path = posixpath.join(self.processing, check_name(c.name))
        before = self._do(path, "stat", lambda s: s.lstat(path))
        if not stat.S_ISREG(before.st_mode or 0):
            raise RemotePathError(path, "fetch", "not a regular file")
        size = before.st_size or 0
        if size > self.settings.max_file_bytes:
            raise FileTooLarge(c.name, size, self.settings.max_file_bytes)
        sftp = self._session()
        transport = sftp.get_channel().get_transport()  # type: ignore[union-attr]
        with (
            SpoolWriter(spool_dir) as sink,
            StallWatchdog(transport, self.ssh.timeouts.stall) as dog,
        ):
            try:
                with self._errors(path, "read"), sftp.open(path, "rb") as fh:
                    fh.prefetch(size, self.ssh.max_prefetch)
                    while chunk := fh.read(CHUNK):
                        sink.write(chunk)
                        dog.progress()
            except TransportUnavailable as exc:
                if dog.fired:
                    raise TransportUnavailable(
                        exc.host, exc.port, "read", f"no progress for {dog.stall:g}s"
                    ) from None
                raise
            after = self._do(path, "stat", lambda s: s.lstat(path))
            stamps = (
                (size, float(before.st_mtime or 0)),
                (after.st_size or 0, float(after.st_mtime or 0)),
            )
            if stamps[0] != stamps[1]:
                raise FileChangedDuringFetch(c.name, *stamps)
            try:
                local, digest = sink.commit(size)
            except SizeMismatch:
                raise FileChangedDuringFetch(c.name, *stamps) from None
        return Fetched(c.name, local, digest, size)

    # --- after the run ------------------------------------------------------
    def _move_unique(self, c: Claimed, folder: str, operation: str) -> str:
        src = posixpath.join(self.processing, check_name(c.name))

        def move(s: paramiko.SFTPClient) -> str:
            makedirs(s, folder)
            for candidate in collision_names(c.name):
                dst = posixpath.join(folder, candidate)
                if exists(s, dst):
                    continue
                s.rename(src, dst)
                return dst
            raise AssertionError("unreachable")

        with self._errors(folder, operation):
            dst = move(self._session())
        if self.settings.ready.mode == "done_marker":
            marker = posixpath.join(self.processing, self.settings.ready.marker_for(c.name))
            self._do(marker, "remove marker", lambda s: exists(s, marker) and s.remove(marker))
        return dst

    def archive(self, c: Claimed, now: datetime) -> str:
        """Move ``c`` to archive/YYYY/MM/DD/ (suffix on collision); return the new path."""
        return self._move_unique(c, posixpath.join(self.archive_dir, *day_folder(now)), "archive")

    def reject(self, c: Claimed, reason: str, now: datetime) -> str:
        """Move ``c`` to rejected/ and write NAME.error.txt beside it; return the new path."""
        dst = self._move_unique(c, self.rejected_dir, "reject")
        note = dst + ".error.txt"

        def write(s: paramiko.SFTPClient) -> None:
            with s.open(note, "w") as fh:
                fh.write(error_text(c.name, reason, now).encode("utf-8"))

        self._do(note, "write", write)
        return dst

    def deliver(self, local: Path, name: str, *, done_marker: bool = False) -> str:
        """Upload as ``.<name>.<random>.part``, then posix_rename to ``name``; never overwrite."""
        check_name(name)
        if self.outbox is None:
            raise TransportConfigError("outbox", "is required to deliver files")
        outbox = self.outbox
        final = posixpath.join(outbox, name)
        part = posixpath.join(outbox, part_name(name, secrets.token_hex(6)))
        size = local.stat().st_size
        sftp = self._session()
        transport = sftp.get_channel().get_transport()  # type: ignore[union-attr]
        with self._errors(final, "deliver"):
            makedirs(sftp, outbox)
            if exists(sftp, final):
                raise TargetExists(final, "deliver", "already exists; never overwritten")
            self._remove_leftover_parts(sftp, outbox, name)
            with StallWatchdog(transport, self.ssh.timeouts.stall) as dog, open(local, "rb") as fh:
                sftp.putfo(fh, part, size, callback=dog.progress, confirm=True)
            failpoint("mid-upload")  # crash tests: the partial file exists, the final name not
            try:
                if exists(sftp, final):
                    raise TargetExists(
                        final, "deliver", "appeared during upload; never overwritten"
                    )
                rename_atomic(sftp, part, final)
            except BaseException:
                self._remove_quietly(part)
                raise
            if (sftp.stat(final).st_size or 0) != size:
                raise RemotePathError(final, "deliver", "size differs after delivery")
            if done_marker:
                with sftp.open(posixpath.join(outbox, self.settings.ready.marker_for(name)), "wx"):
                    pass
        return final

    def outbox_checksum(self, name: str) -> tuple[int, str] | None:
        """Size and sha256 of ``name`` in the outbox (read back), or None when it is not there."""
        check_name(name)
        if self.outbox is None:
            raise TransportConfigError("outbox", "is required to deliver files")
        path = posixpath.join(self.outbox, name)

        def read(s: paramiko.SFTPClient) -> tuple[int, str] | None:
            try:
                attrs = s.lstat(path)
            except FileNotFoundError:
                return None
            if not stat.S_ISREG(attrs.st_mode or 0):
                raise RemotePathError(path, "read", "not a regular file")
            digest = hashlib.sha256()
            size = 0
            with s.open(path, "rb") as fh:
                fh.prefetch(attrs.st_size, max_concurrent_requests=self.ssh.max_prefetch)
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            return size, digest.hexdigest()

        return self._do(path, "read", read)

    def _remove_leftover_parts(self, sftp: paramiko.SFTPClient, outbox: str, name: str) -> None:
        """Remove the part file an upload of ``name`` killed mid-transfer left behind.

        Best effort: many drop boxes allow uploads but not listings, and a delivery must
        never fail for tidying up.
        """
        try:
            entries = sftp.listdir(outbox)
        except (OSError, paramiko.SSHException):
            return
        for stale in leftover_parts(name, entries):
            self._remove_quietly(posixpath.join(outbox, stale))

    def _remove_quietly(self, path: str) -> None:
        try:
            if self._sftp is not None:
                self._sftp.remove(path)
        except Exception:  # noqa: BLE001 - cleanup must not hide the original error
            pass

    def purge_archive(self, older_than_days: int, now: datetime) -> int:
        """Delete archived files from day folders older than ``older_than_days``."""
        return len(self.expire("archive", older_than_days, now))

    def expire(self, folder: KeptFolder, older_than_days: int, now: datetime, *,
               dry_run: bool = False) -> list[str]:
        """Files of archive/ (day folders) or rejected/ (modification time) older than
        ``older_than_days``, deleted unless ``dry_run``."""
        cutoff = now - timedelta(days=older_than_days)
        where = self.archive_dir if folder == "archive" else self.rejected_dir
        return self._do(where, "purge", lambda s: expire_files(
            s, where, folder == "archive", cutoff, dry_run))

    def close(self) -> None:
        """Close the SSH connection; the next call reconnects."""
        if self._client is not None:
            self._client.close()
        self._client, self._sftp = None, None
