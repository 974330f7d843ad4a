"""Keep a verified local copy of every input file, named by its content hash.

Replays and approvals read the spooled copy, so the original may be archived or
deleted by the HR side without losing what was imported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

from filebridge.durable import fsync_folder, private_folder
from filebridge.pipeline.errors import SpoolChanged, UnsafeSpool

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


def spool_copy(path: Path, spool_dir: Path, sha256: str) -> Path:
    """Copy ``path`` to ``spool_dir/<sha256><suffix>`` atomically (idempotent)."""
    suffix = "".join(c for c in path.suffix.lower() if c.isalnum() or c == ".")[:8]
    target = spool_dir / f"{sha256}{suffix}"
    check_spool_folder(spool_dir)
    if target.exists():
        return target
    private_folder(spool_dir)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    with path.open("rb") as src, part.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(part, target)
    fsync_folder(spool_dir)
    return target
