"""The local spool: verified, durable copies of claimed files, named by content.

A copy is written as ``.<random>.part``, hashed while written, checked against the
expected size, fsynced, then renamed to ``<sha256>`` and the folder fsynced. The
remote name never becomes part of a local path, and a partial copy never gets a
final name, so nothing downstream can read half a file.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from types import TracebackType

from filebridge.durable import fsync_folder, private_folder
from filebridge.transports.errors import SpoolWriteFailed


class SizeMismatch(Exception):
    """Internal: the bytes written differ from the size the source reported."""

    def __init__(self, written: int, expected: int) -> None:
        self.written, self.expected = written, expected
        super().__init__(f"wrote {written} bytes, expected {expected}")


class SpoolWriter:
    """A file-like sink: ``write`` bytes, then ``commit(expected_size)`` or let it abort.

    Used as a context manager; leaving the block without ``commit`` removes the
    ``.part`` file, so an interrupted download leaves nothing behind.
    """

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self.size = 0
        self._hash = hashlib.sha256()
        self._part = spool_dir / f".{secrets.token_hex(8)}.part"
        try:
            private_folder(spool_dir)
            self._fh = open(self._part, "xb")  # noqa: SIM115 - closed in commit/abort
        except OSError as exc:
            raise SpoolWriteFailed(str(spool_dir), exc.errno, exc.strerror or str(exc)) from None

    def write(self, data: bytes) -> int:
        """Append ``data``, hashing it on the way."""
        try:
            self._fh.write(data)
        except OSError as exc:
            self.abort()
            raise SpoolWriteFailed(
                str(self.spool_dir), exc.errno, exc.strerror or str(exc)
            ) from None
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def commit(self, expected_size: int) -> tuple[Path, str]:
        """Verify the size, fsync, rename to the sha256 name; return (path, sha256)."""
        if self.size != expected_size:
            self.abort()
            raise SizeMismatch(self.size, expected_size)
        digest = self._hash.hexdigest()
        final = self.spool_dir / digest
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            # Same content already spooled (a re-sent file): keep the existing copy.
            os.replace(self._part, final)
            fsync_folder(self.spool_dir)
        except OSError as exc:
            self.abort()
            raise SpoolWriteFailed(
                str(self.spool_dir), exc.errno, exc.strerror or str(exc)
            ) from None
        return final, digest

    def abort(self) -> None:
        """Close and delete the partial copy; safe to call twice."""
        try:
            self._fh.close()
        except OSError:
            pass
        try:
            self._part.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # best effort: a stale .part is never mistaken for a finished copy

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None or not self._fh.closed:
            self.abort()
