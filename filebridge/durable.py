"""Durability on POSIX: a rename or a new file survives a power cut only once its folder
is synced too. Every writer that renames into place (spool, reports, exports) uses this."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_folder(folder: Path) -> None:
    """Make renames and new names in ``folder`` durable (a no-op where folders can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the file data itself is fsynced
    finally:
        os.close(fd)


def private_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parent) readable and writable by this user only.

    The spool holds the bytes that replays and approvals apply later: nobody else may be
    able to put files there (its content is checked against the ledger's sha256, too).
    """
    for path in (folder.parent, folder):
        if not path.exists():
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder
