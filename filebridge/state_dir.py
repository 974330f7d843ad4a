"""Where the state may live: never world-writable, never on a network filesystem.

WAL keeps its index in shared memory, so every SQLite writer must be on one host.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from filebridge.errors import Terminal


class UnsafeStateLocation(Terminal):
    """The state folder is on a network filesystem or writable by everyone."""

    code = "unsafe-state-location"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class StateNotWritable(Terminal):
    """The state folder or its database file cannot be written by this user."""

    code = "state-not-writable"

    def __init__(self, path: Path, user: str) -> None:
        super().__init__(f"{path}: not writable by user {user}; filebridge keeps its database, "
                         "spool and reports there: give that user write access, or point "
                         "state_dir (or lms.url) elsewhere in settings.yaml")
        self.path = str(path)
        self.user = user


NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "afs", "ncpfs"}
)


def check_state_location(path: Path, mounts: Path = Path("/proc/mounts")) -> None:
    """Refuse a state folder that is world-writable or on a network filesystem."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and path.stat().st_mode & stat.S_IWOTH:
        raise UnsafeStateLocation(path, "writable by every user (mode o+w)")
    if existing == path:
        check_writable(path)
    fstype = filesystem_type(existing, mounts)
    if fstype in NETWORK_FILESYSTEMS:
        # WAL keeps its index in shared memory: it needs every writer on one host.
        raise UnsafeStateLocation(path, f"on a network filesystem ({fstype})")


def check_writable(path: Path) -> None:
    """Refuse a folder (or file) this process cannot write: SQLite would only say "unable
    to open database file", which reads like a server that is down."""
    if not os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0)):
        raise StateNotWritable(path, _user())


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid()) if hasattr(os, "geteuid") else "this user"


def filesystem_type(path: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The filesystem type of ``path``'s longest matching mount point, or None if unknown."""
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        # /proc/mounts escapes spaces and tabs in mount points as octal.
        point = parts[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, parts[2]
    return best_type
