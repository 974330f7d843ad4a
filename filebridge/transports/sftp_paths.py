"""Remote folder operations the SFTP transport builds on: exists, mkdir -p, rename, archive days."""

from __future__ import annotations

import errno
import posixpath
import stat
from datetime import datetime

import paramiko


def exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    """True when ``path`` exists on the server (links are not followed)."""
    try:
        sftp.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    """Create ``path`` and its missing parents on the server."""
    if exists(sftp, path):
        return
    parent = posixpath.dirname(path.rstrip("/"))
    if parent and parent != path:
        makedirs(sftp, parent)
    try:
        sftp.mkdir(path)
    except OSError:
        if not exists(sftp, path):  # lost a race with another daemon: fine
            raise


def rename_atomic(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
    """Rename with posix-rename@openssh.com, falling back to plain SFTP rename."""
    try:
        sftp.posix_rename(src, dst)
    except OSError as exc:
        # Servers without the posix-rename@openssh.com extension: plain rename,
        # which by the SFTP v3 spec fails rather than overwrite.
        if exc.errno in (errno.EACCES, errno.ENOENT):
            raise
        sftp.rename(src, dst)


def expire_files(s: paramiko.SFTPClient, folder: str, by_day: bool, cutoff: datetime,
                 dry_run: bool) -> list[str]:
    """Regular files of ``folder`` older than ``cutoff``: in archive day folders before its
    date (``by_day``), or directly inside by modification time; deleted unless ``dry_run``."""
    if not exists(s, folder):
        return []
    found: list[str] = []
    days = day_folders(s, folder) if by_day else [folder]
    for path in days:
        day = datetime.strptime("/".join(path.split("/")[-3:]), "%Y/%m/%d").date() \
            if by_day else None
        if day is not None and day >= cutoff.date():
            continue
        found += [posixpath.join(path, a.filename) for a in s.listdir_attr(path)
                  if stat.S_ISREG(a.st_mode or 0)
                  and (day is not None or (a.st_mtime or 0) < cutoff.timestamp())]
    if dry_run:
        return found
    for name in found:
        s.remove(name)
    for path in days if by_day else ():
        for parent in (path, posixpath.dirname(path), posixpath.dirname(posixpath.dirname(path))):
            try:
                s.rmdir(parent)
            except OSError:
                break  # not empty: other days (or files kept) still live there
    return found


def day_folders(s: paramiko.SFTPClient, archive_dir: str) -> list[str]:
    """Every archive/YYYY/MM/DD folder, sorted; anything else in the archive is left alone."""
    found = []
    for y in s.listdir_attr(archive_dir):
        if not (y.filename.isdigit() and len(y.filename) == 4 and stat.S_ISDIR(y.st_mode or 0)):
            continue
        ypath = posixpath.join(archive_dir, y.filename)
        for m in s.listdir_attr(ypath):
            if not (m.filename.isdigit() and stat.S_ISDIR(m.st_mode or 0)):
                continue
            mpath = posixpath.join(ypath, m.filename)
            found += [
                posixpath.join(mpath, d.filename)
                for d in s.listdir_attr(mpath)
                if d.filename.isdigit() and stat.S_ISDIR(d.st_mode or 0)
            ]
    return sorted(found)
