"""What a reader returns: the rows as text, the line each one starts on, and the row problems.

The checks shared by every reader live here too: field size (a file error) and control or
invisible characters (a row error), both done column-wise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.formats.decoding import as_arrow_string
from filebridge.formats.dialect import CsvDialect
from filebridge.formats.errors import rejected
from filebridge.problems import Problem

#: Characters no HR value legitimately contains: C0 controls except TAB/LF/CR, DEL,
#: zero-width characters and the BOM, and the bidi embeddings/overrides/isolates
#: that can make a name display as something else.
FORBIDDEN_CHARACTERS: Final[str] = (
    "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\x7f"
    + "\u200b\u200c\u200d\u2060\ufeff" + "".join(chr(c) for c in range(0x202A, 0x202F))
    + "".join(chr(c) for c in range(0x2066, 0x206A)))
# Escapes for the C0 range (RE2 and Python's re read \xNN alike); the rest are literal.
_FORBIDDEN_RE: Final[str] = ("[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
                             + FORBIDDEN_CHARACTERS[FORBIDDEN_CHARACTERS.index("\u200b"):] + "]")
_FORBIDDEN_PY: Final = re.compile(_FORBIDDEN_RE)
_C0_NAMES: Final = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 "
                    "DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US").split()
_STRING: Final = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas 3's default "str"
_VALUE_CAP: Final = 200  # characters of a value quoted back in a problem


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one file may contain; past them the file is rejected, not read."""

    max_file_bytes: int = 2_000_000_000
    max_field_chars: int = 100_000
    max_problems: int = 1000


DEFAULT_LIMITS: Final = ReadLimits()


@dataclass
class Table:
    """The rows of one file, every value a ``str`` ("" when empty), with their source lines.

    ``lines[i]`` is the physical 1-based line where ``frame`` row ``i`` starts (CSV: the
    header is line 1; XML: the line of the record's start tag). Rows that could not be
    split into columns (ragged) are in ``problems`` and not in ``frame``; rows with a bad
    cell (control characters) are in both, so the caller can reject them knowing whose
    row it is. ``rows_read`` counts every data record.
    """

    file: str
    columns: list[str]
    frame: pd.DataFrame
    lines: np.ndarray
    problems: list[Problem]
    rows_read: int
    #: The file's bytes again (unpacked, decrypted) and how they were spelled (CSV): the
    #: reject file copies rejected records from there in the same spelling.
    source: Callable[[], bytes] | None = None
    dialect: CsvDialect | None = None
    #: The file is a reject file written by filebridge and dropped again (a delta).
    from_reject_file: bool = False


def code_point_name(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: how a problem names an invisible character."""
    cp = ord(ch)
    name = _C0_NAMES[cp] if cp < 0x20 else "DEL" if cp == 0x7F else unicodedata.name(ch, "")
    return f"U+{cp:04X} {name}".rstrip()


def escape_forbidden(value: str) -> str:
    """``value`` cut to a readable length with forbidden characters shown as ``\\uXXXX``."""
    short = value if len(value) <= _VALUE_CAP else value[:_VALUE_CAP] + "…"
    return _FORBIDDEN_PY.sub(lambda m: f"\\u{ord(m.group()):04x}", short)


# Every byte that can start or be a forbidden character in UTF-8: the C0 controls but
# TAB/LF/CR, DEL, and the lead bytes of U+2000–U+2FFF (E2) and U+F000–U+FFFF (EF), where
# the forbidden non-ASCII characters live. Everything else is deleted by the pre-filter.
_SUSPECT_BYTES: Final = bytes([*(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)),
                               0x7F, 0xE2, 0xEF])
_INNOCENT_BYTES: Final = bytes(c for c in range(256) if c not in _SUSPECT_BYTES)


def has_forbidden(body: bytes, start: int = 0) -> bool:
    """Whether a forbidden character occurs in the UTF-8 ``body[start:]`` (a whole-file pre-check).

    One pass over the raw file is several times cheaper than one per column, and almost
    every file has none, so the per-column search rarely runs. A byte filter answers
    first (160 MB in about 0.05 s); only a file holding E2/EF-led characters (curly
    quotes, dashes, €) or a control byte needs the RE2 pass (about 0.2 s).
    """
    if not body.translate(None, _INNOCENT_BYTES):  # the whole body: a superset of [start:]
        return False
    hit = pc.match_substring_regex(as_arrow_string(body, start), _FORBIDDEN_RE)
    return bool(hit[0].as_py())


def check_field_sizes(columns: Sequence[str], arrays: Sequence[pa.ChunkedArray],
                      lines: np.ndarray, max_chars: int, file: str) -> None:
    """Reject the file when any value is longer than ``max_chars`` characters."""
    for name, arr in zip(columns, arrays, strict=True):
        # Byte length is free (offsets); characters are only counted when bytes exceed the cap.
        if len(arr) == 0 or pc.max(pc.binary_length(arr)).as_py() <= max_chars:
            continue
        lengths = pc.utf8_length(arr)
        if pc.max(lengths).as_py() <= max_chars:
            continue
        row = int(np.argmax(np.asarray(lengths) > max_chars))
        raise rejected(file, "field-too-large",
                       f"a value of {lengths[row].as_py():,} characters in column {name!r} at "
                       f"line {int(lines[row])} exceeds the limit of {max_chars:,} "
                       f"(limits.max_field_chars)", line=int(lines[row]), column=name)


def to_frame(columns: Sequence[str], arrays: Sequence[pa.ChunkedArray | pa.Array]) -> pd.DataFrame:
    """A pandas frame of ``str`` columns named ``columns`` over the Arrow ``arrays`` (no copy)."""
    names = [f"c{i}" for i in range(len(columns))]  # header names may be anything
    table = pa.table(dict(zip(names, arrays, strict=True))) if names else pa.table({})
    frame = table.to_pandas(types_mapper={pa.string(): _STRING, pa.large_string(): _STRING}.get)
    frame.columns = list(columns)
    return frame


def control_character_rows(frame: pd.DataFrame, lines: np.ndarray,
                           file: str) -> tuple[np.ndarray, list[Problem]]:
    """Rows holding a forbidden character: a boolean mask and one problem per bad cell."""
    bad_rows = np.zeros(len(frame), dtype=bool)
    cells: list[tuple[int, str]] = []
    for name in frame.columns:
        hit = frame[name].str.contains(_FORBIDDEN_RE, regex=True).to_numpy(dtype=bool)
        if hit.any():
            bad_rows |= hit
            cells.extend((int(i), name) for i in np.flatnonzero(hit))
    problems = []
    for i, name in cells:
        value = frame[name].iat[i]
        found = _FORBIDDEN_PY.search(value)
        assert found is not None
        what = code_point_name(found.group())
        problems.append(Problem(
            "control-character",
            f"column {name!r} contains {what}, a control or invisible character that has no "
            f"place in a value", file, int(lines[i]),
            name, escape_forbidden(value)))
    return bad_rows, problems


def finish(file: str, columns: list[str], frame: pd.DataFrame, lines: np.ndarray,
           problems: list[Problem], rows_read: int, limits: ReadLimits, *,
           scan_controls: bool = True, dropped: int = 0) -> Table:
    """Flag cells with control characters, sort and cap the problems, build the ``Table``.

    Rows with a control character stay in the frame (their problem names the line) so
    the caller can reject them while still knowing whose row it was; only rows that
    could not be split into columns are left out. ``dropped`` counts row problems a
    reader already left out to respect the cap.
    """
    if scan_controls and len(frame):
        _bad, found = control_character_rows(frame, lines, file)
        problems = problems + found
    problems = sorted(problems, key=lambda p: (p.line or 0, p.column or ""))
    if len(problems) > limits.max_problems or dropped:
        dropped += max(0, len(problems) - limits.max_problems)
        problems = problems[:limits.max_problems] + [Problem(
            "too-many-problems", f"{dropped:,} more row problems not listed "
            f"(limits.max_problems = {limits.max_problems:,})", file, severity="warning")]
    return Table(file, columns, frame, np.asarray(lines, dtype=np.int64), problems, rows_read)
