"""Keep a verified local copy of every input file, named by its content hash.

Replays and approvals read the spooled copy, so the original may be archived or
deleted by the HR side without losing what was imported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from filebridge.durable import fsync_folder

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


def spool_copy(path: Path, spool_dir: Path, sha256: str) -> Path:
    """Copy ``path`` to ``spool_dir/<sha256><suffix>`` atomically (idempotent)."""
    suffix = "".join(c for c in path.suffix.lower() if c.isalnum() or c == ".")[:8]
    target = spool_dir / f"{sha256}{suffix}"
    if target.exists():
        return target
    spool_dir.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    with path.open("rb") as src, part.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(part, target)
    fsync_folder(spool_dir)
    return target
