"""The local drop folder: the same promises as SFTP, on folders of this machine.

Every look at a file uses ``lstat`` and ``O_NOFOLLOW``: a symlink or FIFO in the
inbox is reported, never followed or opened. Moves use ``link`` + ``unlink`` so an
existing target is never overwritten (``rename`` would silently replace it).
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

from filebridge.durable import fsync_folder
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
)
from filebridge.transports.local_watch import Watch
from filebridge.transports.names import (
    check_name,
    is_ignored,
    leftover_parts,
    matches,
    name_problem,
    part_name,
)
from filebridge.transports.settings import CommonSettings, WatchMode
from filebridge.transports.spool import SizeMismatch, SpoolWriter

CHUNK = 1 << 20
MANIFEST_MAX_BYTES = 1 << 20


@contextmanager
def _os_errors(path: Path, operation: str) -> Iterator[None]:
    """Turn an OSError into a transport error that names the path and the operation."""
    try:
        yield
    except FileExistsError:
        raise TargetExists(str(path), operation, "already exists; never overwritten") from None
    except PermissionError as exc:
        raise PermissionDenied(str(path), operation, exc.strerror or "permission denied") from None
    except OSError as exc:
        raise RemotePathError(str(path), operation, exc.strerror or str(exc)) from None


def _kind(mode: int) -> EntryKind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "other"


def move_no_replace(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` on one filesystem; FileExistsError if ``dst`` exists."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        # Filesystems without hard links (some network and FAT mounts): check, then rename.
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "File exists", str(dst)) from None
        os.rename(src, dst)
    else:
        os.unlink(src)
    fsync_folder(dst.parent)
    if src.parent != dst.parent:
        fsync_folder(src.parent)


def _remove_leftover_parts(outbox: Path, name: str) -> None:
    """Remove the part file a delivery of ``name`` killed mid-copy left (best effort: a
    delivery never fails for tidying up)."""
    try:
        for stale in leftover_parts(name, os.listdir(outbox)):
            (outbox / stale).unlink(missing_ok=True)
    except OSError:
        pass


class LocalTransport:
    """Transport over folders of this machine (``type: local``)."""

    def __init__(
        self,
        settings: CommonSettings,
        base_dir: Path,
        watch_mode: WatchMode = "events",
    ) -> None:
        self.settings = settings
        self.watch_mode: WatchMode = watch_mode
        folders = settings.folders
        self.inbox = (base_dir / folders.inbox).absolute()
        self.processing = self.inbox / folders.processing
        self.archive_dir = self.inbox / folders.archive
        self.rejected_dir = self.inbox / folders.rejected
        self.outbox = None if folders.outbox is None else (base_dir / folders.outbox).absolute()
        self.selector = Selector(settings)
        self.skipped: list[Skipped] = []
        self._watches: list[Watch] = []

    # --- pickup -------------------------------------------------------------
    def _entries(self, folder: Path) -> list[Entry]:
        entries = []
        with _os_errors(folder, "list"), os.scandir(folder) as it:
            for d in it:
                try:
                    st = d.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # vanished between readdir and lstat
                entries.append(Entry(d.name, _kind(st.st_mode), st.st_size, st.st_mtime))
        return entries

    def _read_manifest(self) -> str | None:
        name = self.settings.ready.manifest
        if not name:
            return None
        try:
            fd = os.open(self.inbox / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return fh.read(MANIFEST_MAX_BYTES).decode("utf-8", "replace")

    def list_ready(self, now: float) -> list[RemoteFile]:
        """Finished files matching the pattern, oldest first; refused names go to ``skipped``."""
        ready, self.skipped = self.selector.select(
            self._entries(self.inbox), now, self._read_manifest
        )
        return ready

    def claim(self, f: RemoteFile) -> Claimed:
        """Move ``f`` into processing/ (atomic, never overwriting)."""
        check_name(f.name)
        src, dst = self.inbox / f.name, self.processing / f.name
        with _os_errors(src, "claim"):
            st = os.lstat(src)
            if not stat.S_ISREG(st.st_mode):
                raise RemotePathError(str(src), "claim", "not a regular file")
            self.processing.mkdir(parents=True, exist_ok=True)
            move_no_replace(src, dst)
        self._claim_marker(f.name)
        return Claimed(f.name, str(dst), st.st_size, st.st_mtime)

    def _claim_marker(self, name: str) -> None:
        # The marker follows its file, so a later file of the same name needs its own marker.
        if self.settings.ready.mode != "done_marker":
            return
        marker = self.settings.ready.marker_for(name)
        src = self.inbox / marker
        if os.path.lexists(src):
            with _os_errors(src, "claim marker"):
                try:
                    move_no_replace(src, self.processing / marker)
                except FileExistsError:
                    os.unlink(src)

    def pending_claims(self) -> list[Claimed]:
        """Files left in processing/ by a crash, oldest first; they are taken up again."""
        if not self.processing.is_dir():
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
            Claimed(f.name, str(self.processing / f.name), f.size, f.mtime)
            for f in self.selector.order(found)
        ]

    def fetch(self, c: Claimed, spool_dir: Path) -> Fetched:
        """Copy ``c`` into the spool: size limit first, stat before/after, sha256, fsync."""
        path = self.processing / check_name(c.name)
        with _os_errors(path, "open"):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb", buffering=0) as fh:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise RemotePathError(str(path), "fetch", "not a regular file")
            if before.st_size > self.settings.max_file_bytes:
                raise FileTooLarge(c.name, before.st_size, self.settings.max_file_bytes)
            with SpoolWriter(spool_dir) as sink:
                with _os_errors(path, "read"):
                    while chunk := fh.read(CHUNK):
                        sink.write(chunk)
                after = os.fstat(fd)
                stamps = ((before.st_size, before.st_mtime), (after.st_size, after.st_mtime))
                if stamps[0] != stamps[1]:
                    raise FileChangedDuringFetch(c.name, *stamps)
                try:
                    local, digest = sink.commit(before.st_size)
                except SizeMismatch:
                    raise FileChangedDuringFetch(c.name, *stamps) from None
        return Fetched(c.name, local, digest, before.st_size)

    # --- after the run ------------------------------------------------------
    def _move_unique(self, c: Claimed, folder: Path, operation: str) -> Path:
        src = self.processing / check_name(c.name)
        with _os_errors(folder, operation):
            folder.mkdir(parents=True, exist_ok=True)
        for candidate in collision_names(c.name):
            dst = folder / candidate
            try:
                with _os_errors(dst, operation):
                    move_no_replace(src, dst)
            except TargetExists:
                continue
            self._drop_marker(c.name)
            return dst
        raise AssertionError("unreachable")  # collision_names never ends

    def _drop_marker(self, name: str) -> None:
        if self.settings.ready.mode == "done_marker":
            marker = self.processing / self.settings.ready.marker_for(name)
            with _os_errors(marker, "remove marker"):
                marker.unlink(missing_ok=True)

    def archive(self, c: Claimed, now: datetime) -> str:
        """Move ``c`` to archive/YYYY/MM/DD/ (suffix on collision); return the new path."""
        return str(self._move_unique(c, self.archive_dir.joinpath(*day_folder(now)), "archive"))

    def reject(self, c: Claimed, reason: str, now: datetime) -> str:
        """Move ``c`` to rejected/ and write NAME.error.txt beside it; return the new path."""
        dst = self._move_unique(c, self.rejected_dir, "reject")
        note = dst.with_name(dst.name + ".error.txt")
        with _os_errors(note, "write"):
            note.write_text(error_text(c.name, reason, now), encoding="utf-8")
        return str(dst)

    def deliver(self, local: Path, name: str, *, done_marker: bool = False) -> str:
        """Copy ``local`` to the outbox as ``.<name>.<random>.part``, then link to ``name``."""
        check_name(name)
        if self.outbox is None:
            raise TransportConfigError("outbox", "is required to deliver files")
        final = self.outbox / name
        part = self.outbox / part_name(name, secrets.token_hex(6))
        with _os_errors(self.outbox, "deliver"):
            self.outbox.mkdir(parents=True, exist_ok=True)
            _remove_leftover_parts(self.outbox, name)
            with open(local, "rb") as src, open(part, "xb") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
        failpoint("mid-upload")  # crash tests: the partial file exists, the final name not
        try:
            with _os_errors(final, "deliver"):
                move_no_replace(part, final)
        finally:
            part.unlink(missing_ok=True)
        with _os_errors(final, "deliver"):
            if os.stat(final).st_size != os.stat(local).st_size:
                raise RemotePathError(str(final), "deliver", "size differs after delivery")
            if done_marker:
                marker = self.outbox / self.settings.ready.marker_for(name)
                with open(marker, "xb") as fh:
                    os.fsync(fh.fileno())
                fsync_folder(self.outbox)
        return str(final)

    def outbox_checksum(self, name: str) -> tuple[int, str] | None:
        """Size and sha256 of ``name`` in the outbox, or None when there is no such file."""
        check_name(name)
        if self.outbox is None:
            raise TransportConfigError("outbox", "is required to deliver files")
        path = self.outbox / name
        with _os_errors(path, "read"):
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except FileNotFoundError:
                return None
            with open(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    raise RemotePathError(str(path), "read", "not a regular file")
                digest = hashlib.sha256()
                size = 0
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        return size, digest.hexdigest()

    def purge_archive(self, older_than_days: int, now: datetime) -> int:
        """Delete archived files from day folders older than ``older_than_days``."""
        return len(self.expire("archive", older_than_days, now))

    def expire(self, folder: KeptFolder, older_than_days: int, now: datetime, *,
               dry_run: bool = False) -> list[str]:
        """Files of archive/ (day folders) or rejected/ (modification time) older than
        ``older_than_days``, deleted unless ``dry_run``."""
        cutoff = now - timedelta(days=older_than_days)
        found: list[Path] = []
        if folder == "rejected":
            if self.rejected_dir.is_dir() and not self.rejected_dir.is_symlink():
                found = [self.rejected_dir / e.name for e in self._entries(self.rejected_dir)
                         if e.kind == "file" and e.mtime < cutoff.timestamp()]
        else:
            found = self._expired_days(cutoff.date())
        if not dry_run:
            for path in found:
                with _os_errors(path, "purge"):
                    os.unlink(path)
            for path in dict.fromkeys(p.parent for p in found) if folder == "archive" else ():
                for parent in (path, path.parent, path.parent.parent):
                    try:
                        parent.rmdir()
                    except OSError:
                        break  # not empty: other days still live there
        return [str(p) for p in found]

    def _expired_days(self, cutoff: date) -> list[Path]:
        found = []
        for day in sorted(self.archive_dir.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]")):
            try:
                folder_date = datetime.strptime("/".join(day.parts[-3:]), "%Y/%m/%d").date()
            except ValueError:
                continue
            if folder_date < cutoff and not day.is_symlink():
                found += [day / e.name for e in self._entries(day) if e.kind == "file"]
        return found

    # --- watching -----------------------------------------------------------
    def watch(self, callback: Callable[[RemoteFile], None], mode: WatchMode | None = None) -> Watch:
        """Call ``callback`` once per finished file, within about a second (events) or a poll."""
        w = Watch(self, callback, mode or self.watch_mode, self.settings.poll_seconds)
        self._watches.append(w)
        w.start()
        return w

    def close(self) -> None:
        """Stop any watches; nothing else is held open."""
        for w in self._watches:
            w.stop()
        self._watches.clear()
