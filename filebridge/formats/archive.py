"""zip and gzip drops: one data file inside, unpacked into memory under the file size limit.

An archive is recognised by its first bytes, not its name. Refused, never unpacked to
disk: more than one data file, an archive inside the archive, symbolic links, member
names that climb out (``../``, absolute, drive letters, backslashes), encrypted members,
and anything that unpacks past ``limits.max_file_bytes`` or expands more than
``MAX_RATIO`` times (a zip bomb) — the size is counted while inflating, never trusted
from the archive's own directory.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import Final

from filebridge.formats.errors import FileRejected, rejected

ZIP_MAGIC: Final = b"PK\x03\x04"
EMPTY_ZIP: Final = b"PK\x05\x06"
GZIP_MAGIC: Final = b"\x1f\x8b"
MAX_RATIO: Final = 200  # real CSV compresses 5-20x; a thousandfold is a bomb
_CHUNK: Final = 1 << 20
# Folders and files that archivers add beside the data and that are never data.
_NOISE: Final = ("__MACOSX/", ".DS_Store", "Thumbs.db")


@dataclass(frozen=True)
class Unpacked:
    """The data file's bytes and the name problems use (``drop.zip!employees.csv``)."""

    data: bytes
    name: str


def is_archive(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts a zip or gzip archive."""
    return head.startswith((ZIP_MAGIC, EMPTY_ZIP, GZIP_MAGIC))


def unpack(raw: bytes, max_bytes: int, file: str) -> Unpacked:
    """The one data file inside the zip or gzip archive ``raw``, bounded and checked."""
    if raw.startswith(GZIP_MAGIC):
        data = _gunzip(raw, max_bytes, file)
        inner = file[:-3] if file.endswith(".gz") else file
        _refuse_nested(data, file, inner)
        return Unpacked(data, f"{file}!{inner.rpartition('/')[2]}")
    return _unzip(raw, max_bytes, file)


def _gunzip(raw: bytes, max_bytes: int, file: str) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out, size = [], 0
    view = memoryview(raw)
    try:
        for start in range(0, len(raw), _CHUNK):
            part = inflater.decompress(view[start:start + _CHUNK], max_bytes + 1 - size)
            size += len(part)
            out.append(part)
            if size > max_bytes or inflater.unconsumed_tail:
                raise _too_large(file, max_bytes)
            _check_ratio(size, min(start + _CHUNK, len(raw)), file)
        if not inflater.eof:
            raise rejected(file, "archive-truncated",
                           "the gzip data ends early: the file was probably cut off in transfer")
        if inflater.unused_data:
            raise rejected(file, "archive-several-files",
                           "the gzip file holds more than one member; send one data file")
    except zlib.error as exc:
        raise rejected(file, "archive-corrupt", f"the gzip data cannot be read: {exc}") from None
    return b"".join(out)


def _unzip(raw: bytes, max_bytes: int, file: str) -> Unpacked:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError) as exc:
        raise rejected(file, "archive-corrupt", f"the zip file cannot be read: {exc}") from None
    with archive:
        members = [m for m in archive.infolist() if not _is_noise(m)]
        for m in members:
            _check_member(m, file)
        data_files = [m for m in members if not m.is_dir()]
        if len(data_files) != 1:
            names = ", ".join(repr(m.filename) for m in data_files[:5]) or "none"
            raise rejected(file, "archive-several-files" if data_files else "archive-empty",
                           f"the zip file must hold exactly one data file; it holds "
                           f"{len(data_files)} ({names})")
        member = data_files[0]
        if member.file_size > max_bytes:
            raise _too_large(file, max_bytes)
        data = _read_member(archive, member, max_bytes, file)
    _refuse_nested(data, file, member.filename)
    return Unpacked(data, f"{file}!{member.filename}")


def check_zip_sizes(raw: bytes, max_bytes: int, file: str) -> None:
    """Refuse a zip-based document (xlsx) whose parts declare more than ``max_bytes`` or
    more than ``MAX_RATIO`` times their packed size, before a reader inflates them."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: the reader says what it is
    size = sum(p.file_size for p in parts)
    if size > max_bytes:
        raise _too_large(file, max_bytes)
    _check_ratio(size, max(sum(p.compress_size for p in parts), 1), file)


def _is_noise(member: zipfile.ZipInfo) -> bool:
    name = member.filename
    return name.startswith(_NOISE[0]) or name.rpartition("/")[2] in _NOISE[1:]


def _check_member(member: zipfile.ZipInfo, file: str) -> None:
    name = member.filename
    parts = name.replace("\\", "/").split("/")
    if (name.startswith(("/", "\\")) or "\\" in name or ".." in parts
            or (len(name) > 1 and name[1] == ":") or "\x00" in name):
        raise rejected(file, "archive-unsafe-name",
                       f"the zip member name {name!r} points outside the archive", value=name)
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise rejected(file, "archive-symlink",
                       f"the zip member {name!r} is a symbolic link; links are never followed",
                       value=name)
    if member.flag_bits & 0x1:
        raise rejected(file, "archive-encrypted",
                       f"the zip member {name!r} is password-protected; send it unencrypted "
                       f"inside the archive (or encrypt the whole file with PGP)", value=name)


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, max_bytes: int,
                 file: str) -> bytes:
    out, size = [], 0
    try:
        with archive.open(member) as f:
            while chunk := f.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(file, max_bytes)
                _check_ratio(size, max(member.compress_size, 1), file)
                out.append(chunk)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as exc:
        raise rejected(file, "archive-corrupt",
                       f"the zip member {member.filename!r} cannot be read: {exc}") from None
    return b"".join(out)


def _check_ratio(size: int, packed: int, file: str) -> None:
    if size > (1 << 20) and size > MAX_RATIO * packed:
        raise rejected(file, "archive-bomb",
                       f"the archive expands more than {MAX_RATIO} times its packed size; "
                       f"refused as a zip bomb")


def _refuse_nested(data: bytes, file: str, inner: str) -> None:
    if is_archive(data[:4]):
        raise rejected(file, "archive-nested",
                       f"{inner!r} inside the archive is itself an archive; send one level",
                       value=inner)


def _too_large(file: str, max_bytes: int) -> FileRejected:
    return rejected(file, "file-too-large",
                    f"the archive unpacks to more than the limit of {max_bytes:,} bytes "
                    f"(limits.max_file_bytes)")
