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
