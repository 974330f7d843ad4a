"""Read JSON exports into a ``Table``: an array of objects, or JSON Lines (one per line).

``record_path`` names the array inside the document by its keys (``data.employees``;
empty: the document is the array). Field paths are keys inside one record, dotted
(``name.first``), with ``[n]`` for the n-th (0-based) item of a list (``emails[0]``).
Numbers are kept as written (``00123`` cannot be a JSON number, ``1.50`` stays ``1.50``);
``true``/``false`` as such; ``null`` and a missing key as empty. A record's line is the
line of its opening brace. Nesting deeper than Python's parser allows is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa

from filebridge.formats.decoding import to_utf8
from filebridge.formats.errors import rejected
from filebridge.formats.table import ReadLimits, Table, check_field_sizes, finish, to_frame
from filebridge.problems import Problem

_DECODER: Final = json.JSONDecoder(parse_float=str, parse_int=str)
_SPACE: Final = re.compile(r"[ \t\r\n]*")
_STEP: Final = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class JsonLayout:
    """Where the records are and which values to take from each."""

    record_path: str
    fields: tuple[str, ...]
    lines: bool = False  # JSON Lines: one record per line


def read_json_bytes(raw: bytes, layout: JsonLayout, limits: ReadLimits, file: str) -> Table:
    """Read the records of the JSON document (or JSON Lines) ``raw`` as text columns."""
    text = to_utf8(raw, "utf-8", file).decode("utf-8")
    values: list[list[str]] = [[] for _ in layout.fields]
    lines: list[int] = []
    problems: list[Problem] = []
    paths = [_compile(f) for f in layout.fields]
    records = _json_lines(text, file) if layout.lines else _array(text, layout, file)
    for line, record in records:
        if not isinstance(record, dict):
            problems.append(Problem("json-not-an-object", f"the record is a "
                                    f"{type(record).__name__}, not an object", file, line))
            continue
        row = [_value(record, p) for p in paths]
        bad = [f for f, v in zip(layout.fields, row, strict=True) if v is None]
        if bad:
            problems.append(Problem("json-not-a-value", f"{bad[0]!r} holds an object or a "
                                    f"list, not a value; point the path at one value", file,
                                    line, bad[0]))
            continue
        lines.append(line)
        for col, v in zip(values, row, strict=True):
            col.append(v or "")
    columns = list(layout.fields)
    arrays = [pa.chunked_array([pa.array(v, pa.string())]) for v in values]
    where = np.array(lines, dtype=np.int64)
    check_field_sizes(columns, arrays, where, limits.max_field_chars, file)
    return finish(file, columns, to_frame(columns, arrays), where, problems,
                  len(lines) + len(problems), limits)


def _compile(path: str) -> list[str | int]:
    return [int(m.group(2)) if m.group(2) else m.group(1) for m in _STEP.finditer(path)]


def _value(record: Any, path: list[str | int]) -> str | None:
    node = record
    for step in path:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
        if node is None:
            return ""
    if isinstance(node, dict | list):
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _decode(text: str, pos: int, file: str) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise rejected(file, "json-malformed", f"line {exc.lineno}, column {exc.colno}: "
                       f"{exc.msg}", line=exc.lineno) from None
    except RecursionError:
        line = text.count("\n", 0, pos) + 1
        raise rejected(file, "json-too-deep", "the JSON nests too deeply to be a record",
                       line=line) from None


def _json_lines(text: str, file: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            value, end = _decode(line, len(line) - len(line.lstrip()), file)
            if line[end:].strip():
                raise rejected(file, "json-malformed", f"line {number}: more than one value "
                               f"on a JSON Lines line", line=number)
            yield number, value


def _array(text: str, layout: JsonLayout, file: str) -> Iterator[tuple[int, Any]]:
    """Each element of the array at ``record_path`` with the line it starts on."""
    pos = _skip(text, 0)
    for key in [k for k in layout.record_path.split(".") if k]:
        pos = _enter(text, pos, key, file)
    if not text.startswith("[", pos):
        line = text.count("\n", 0, pos) + 1
        where = f"at {layout.record_path!r}" if layout.record_path else "at the top"
        raise rejected(file, "json-no-records", f"expected an array of records {where} "
                       f"(format.record_path), found {text[pos:pos + 20]!r}", line=line)
    pos, line, counted = _skip(text, pos + 1), 1, 0
    while not text.startswith("]", pos):
        line += text.count("\n", counted, pos)
        counted = pos
        value, pos = _decode(text, pos, file)
        yield line, value
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif not text.startswith("]", pos):
            line_at = text.count("\n", 0, pos) + 1
            raise rejected(file, "json-malformed", f"line {line_at}: expected ',' or ']' "
                           f"after a record, found {text[pos:pos + 20]!r}", line=line_at)


def _enter(text: str, pos: int, key: str, file: str) -> int:
    """The position of ``key``'s value in the object starting at ``pos``."""
    if not text.startswith("{", pos):
        raise rejected(file, "json-no-records", f"expected an object holding {key!r} "
                       f"(format.record_path), found {text[pos:pos + 20]!r}",
                       line=text.count("\n", 0, pos) + 1)
    pos = _skip(text, pos + 1)
    while not text.startswith("}", pos):
        name, pos = _decode(text, pos, file)
        pos = _skip(text, pos)
        if not text.startswith(":", pos):
            raise rejected(file, "json-malformed", "expected ':' after a key",
                           line=text.count("\n", 0, pos) + 1)
        pos = _skip(text, pos + 1)
        if name == key:
            return pos
        pos = _skip(text, _decode(text, pos, file)[1])
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
    raise rejected(file, "json-no-records", f"no key {key!r} on the way to the records "
                   f"(format.record_path)", line=text.count("\n", 0, pos) + 1)


def _skip(text: str, pos: int) -> int:
    m = _SPACE.match(text, pos)
    return m.end() if m else pos
