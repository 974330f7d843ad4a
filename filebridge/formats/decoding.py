"""Bytes to UTF-8: size limits checked before reading, byte-order marks, strict decoding.

Every reader works on UTF-8 bytes; a file in any other encoding is decoded strictly once
and re-encoded, so a wrong declared encoding is a file error with a line and byte offset,
never silently replaced characters.
"""

from __future__ import annotations

import codecs
import functools
import os
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from filebridge.formats.errors import rejected

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS: Final[tuple[tuple[bytes, str], ...]] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Encodings in which an all-ASCII file is byte-for-byte the same UTF-8 (no work to do).
_ASCII_SUPERSETS: Final = frozenset({"utf-8", "utf-8-sig", "ascii", "cp1252", "iso8859-1",
                                     "iso8859-15", "cp1250", "cp1251", "cp1253", "cp1254",
                                     "cp1257", "mac-roman"})


def check_size(path: Path, max_bytes: int, file: str) -> int:
    """Stat ``path`` before reading it: refuse empty files and files over ``max_bytes``."""
    size = os.stat(path).st_size
    if size > max_bytes:
        raise rejected(file, "file-too-large",
                       f"the file is {size:,} bytes; the limit is {max_bytes:,} bytes "
                       f"(limits.max_file_bytes)")
    if size == 0:
        raise rejected(file, "empty-file", "the file is empty (0 bytes)")
    return size


def read_bounded(path: Path, max_bytes: int, file: str) -> bytes:
    """The whole file, refused before reading when empty or larger than ``max_bytes``."""
    size = check_size(path, max_bytes, file)
    with open(path, "rb") as f:
        # read(n) allocates n bytes up front: ask for the stat size, not the limit.
        data = f.read(size + 1)
        if len(data) > size:  # it grew since stat (rare): the rest, still bounded
            data += f.read(max_bytes + 1 - len(data))
    if len(data) > max_bytes:
        raise rejected(file, "file-too-large",
                       f"the file grew past the limit of {max_bytes:,} bytes while being read "
                       f"(limits.max_file_bytes)")
    return data


def to_utf8(data: bytes, declared: str, file: str) -> bytes:
    """``data`` as UTF-8 without a byte-order mark; a BOM in the file wins over ``declared``."""
    declared_codec = codecs.lookup(declared).name
    codec, skip = declared_codec, 0
    for bom, bom_codec in _BOMS:
        if data.startswith(bom):
            codec, skip = bom_codec, len(bom)
            break
    body = memoryview(data)[skip:]
    if codec in ("utf-8", "utf-8-sig"):
        raw = bytes(body) if skip else data
        if not raw.isascii() and not _valid_utf8(raw):
            _raise_undecodable(data, skip, "utf-8", declared, file)
        return raw
    if codec in _ASCII_SUPERSETS and data.isascii():
        return data
    if not skip and _single_byte(codec) and _valid_utf8(data):
        _raise_drifted(data, codec, declared, file)
    try:
        text = codecs.decode(body, codec)
    except UnicodeDecodeError:
        _raise_undecodable(data, skip, codec, declared, file)
    return text.encode("utf-8")


@functools.cache
def _single_byte(codec: str) -> bool:
    """Whether ``codec`` spells every character as one byte (cp1252, latin-1, mac-roman …)."""
    try:
        return len(codecs.decode(bytes(range(0x80, 0x100)), codec, "replace")) == 0x80
    except (LookupError, ValueError):
        return False


def _raise_drifted(data: bytes, codec: str, declared: str, file: str) -> None:
    """Refuse non-ASCII UTF-8 declared as a single-byte encoding (the HR system switched).

    Valid multi-byte UTF-8 is almost never real single-byte text (it would take pairs
    like ``Ã©`` everywhere), and reading it as such turns every accent into mojibake.
    """
    at = next(i for i, b in enumerate(data) if b >= 0x80)
    line = data.count(b"\n", 0, at) + data.count(b"\r", 0, at) - data.count(b"\r\n", 0, at) + 1
    start = max(data.rfind(b"\n", 0, at), data.rfind(b"\r", 0, at)) + 1
    end = min((i for i in (data.find(b"\n", at), data.find(b"\r", at)) if i >= 0),
              default=len(data))
    sample = data[start:min(end, start + 120)].decode("utf-8", "replace")
    wrong = data[start:min(end, start + 120)].decode(codec, "replace")
    raise rejected(
        file, "encoding-mismatch",
        f"the mapping declares {declared} but the file is UTF-8 (line {line} reads "
        f"{sample!r} as UTF-8, {wrong!r} as {codec}); the HR system probably switched its "
        f"export to UTF-8: set format.encoding to utf-8 once you have checked the file",
        line=line, value=sample) from None


def as_arrow_string(raw: bytes, start: int = 0) -> pa.LargeStringArray:
    """``raw[start:]`` as a one-element Arrow string array without copying (whole-file scans)."""
    offsets = pa.py_buffer(np.array([start, len(raw)], dtype=np.int64).tobytes())
    return pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(raw))


def _valid_utf8(raw: bytes) -> bool:
    # Arrow's validator is SIMD-fast; Python's decoder is only needed to locate an error.
    try:
        as_arrow_string(raw).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _raise_undecodable(data: bytes, skip: int, codec: str, declared: str, file: str) -> None:
    # Only called after a failed decode or validation; Python's strict decoder finds the offset.
    try:
        codecs.decode(memoryview(data)[skip:], codec)
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        bad = " ".join(f"0x{b:02X}" for b in bytes(exc.object[exc.start:exc.end]))
        prefix = codecs.decode(memoryview(data)[skip:offset], codec, "replace")
        line = count_line_breaks(prefix) + 1
        used = codec if codec == codecs.lookup(declared).name else f"{codec} (from the BOM)"
        raise rejected(
            file, "undecodable-byte",
            f"byte {bad} at line {line}, byte offset {offset} (0-based, "
            f"from the start of the file) cannot be decoded as {used}; the declared encoding "
            f"is {declared}{_likely(data, codec)}: check the mapping's format.encoding",
            line=line) from None


def _likely(data: bytes, codec: str) -> str:
    """``; the bytes read as cp1252`` when a UTF-8 file fails and Windows-1252 fits."""
    if codec != "utf-8":
        return ""
    try:
        codecs.decode(data, "cp1252")
    except UnicodeDecodeError:
        return ""
    return " (the bytes read as cp1252, Windows' Western encoding, as Excel saves it)"


def count_line_breaks(text: str) -> int:
    """Physical line breaks in ``text``: CRLF, LF and a lone CR each count once."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")
