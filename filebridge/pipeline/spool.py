"""Keep a verified local copy of every input file, named by its content hash.

Replays and approvals read the spooled copy, so the original may be archived or
deleted by the HR side without losing what was imported.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from filebridge.durable import fsync_folder, private_folder
from filebridge.pipeline.errors import SpoolChanged, SpoolExpired, UnsafeSpool

if TYPE_CHECKING:
    from filebridge.ledger import FileRecord

CHUNK = 1 << 20


def sha256_of(path: Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_spool_folder(spool_dir: Path) -> None:
    """Refuse a spool (the connection's folder or the spool root) that others can write."""
    for folder in (spool_dir.parent, spool_dir):
        try:
            mode = folder.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UnsafeSpool(str(folder), stat.filemode(mode))


def verified_spool(path: Path, sha256: str) -> Path:
    """``path``, a spooled copy, after checking its folder and that its content still has
    ``sha256`` (what the ledger recorded); ``SpoolChanged`` otherwise."""
    check_spool_folder(path.parent)
    try:
        actual, _ = sha256_of(path)
    except FileNotFoundError:
        actual = "missing"
    if actual != sha256:
        raise SpoolChanged(str(path), sha256, actual)
    return path


def spool_of(file: FileRecord) -> Path:
    """The verified spool copy of a ledger file; ``SpoolExpired`` (with the date) when
    retention removed it, ``SpoolChanged`` when it is otherwise gone or changed."""
    path = Path(file.spool_path)
    removed = file.spool_removed_at
    if removed is not None and not path.is_file():
        # SQLite hands back the stored UTC time without its zone.
        when = removed.replace(tzinfo=UTC) if removed.tzinfo is None else removed
        raise SpoolExpired(str(path), file.id,
                           when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    return verified_spool(path, file.sha256)


def spool_file(path: Path, spool_dir: Path) -> tuple[str, int, Path]:
    """Copy ``path`` to ``spool_dir/<sha256><suffix>`` atomically (idempotent), hashing the
    bytes as they are copied; returns the sha256 (hex), the size and the spooled path.

    One read of the file, not two, and the hash describes exactly the bytes spooled even
    if the original changes meanwhile. A copy already spooled is only hashed.
    """
    suffix = "".join(c for c in path.suffix.lower() if c.isalnum() or c == ".")[:8]
    check_spool_folder(spool_dir)
    if path.parent.resolve() == spool_dir.resolve():
        sha256, size = sha256_of(path)
        if (spooled := spool_dir / f"{sha256}{suffix}").exists():
            return sha256, size, spooled
    private_folder(spool_dir)
    part = spool_dir / f".spool.{os.getpid()}.{threading.get_ident()}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as src, part.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            target = spool_dir / f"{digest.hexdigest()}{suffix}"
            if not target.exists():
                dst.flush()
                os.fsync(dst.fileno())
        if target.exists():
            return digest.hexdigest(), size, target
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    fsync_folder(spool_dir)
    return digest.hexdigest(), size, target
