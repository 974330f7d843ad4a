"""Read records out of an XML file into a ``Table``, refusing DTDs and entities outright.

The parser is defusedxml's (expat underneath) with DTDs, entity declarations and external
references forbidden, so nothing is ever fetched from disk or network. The file is fed in
chunks; only the record being read is held as a tree, so memory stays bounded by one record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import numpy as np
import pyarrow as pa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from filebridge.formats.decoding import check_size
from filebridge.formats.errors import FileRejected, rejected
from filebridge.formats.table import (
    DEFAULT_LIMITS,
    ReadLimits,
    Table,
    check_field_sizes,
    finish,
    to_frame,
)
from filebridge.xml_path import (
    predicate_error,
    rewrite_predicates,
    split_predicates,
    split_steps,
)

_CHUNK: Final = 1 << 20
_MAX_DEPTH: Final = 256  # real exports nest a handful of levels; deeper is an attack or a bug
_STEP: Final = re.compile(r"\{[^}]*\}[^/{]*|[^/{]+")  # a Clark name's URI may contain "/"


@dataclass(frozen=True)
class XmlLayout:
    """Where the records are and which values to take from each.

    ``record_path`` starts at the root element, root included (``hr:Employees/hr:Employee``);
    a leading ``//`` means "at any depth" (``//hr:Employee``). ``fields`` are paths relative
    to the record: ``hr:Name/hr:First`` (the element's text), ``@id`` (an attribute of the
    record), ``hr:Org/@code``. Prefixes resolve through ``namespaces``; the ``""`` key, if
    given, is the namespace of unprefixed element names. ``{uri}name`` is accepted as is.
    """

    record_path: str
    fields: tuple[str, ...]
    namespaces: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Field:
    element: str | None  # Clark-notation path below the record, None for the record itself
    attribute: str | None  # Clark-notation attribute name, None for the element's text


def _clark(name: str, namespaces: Mapping[str, str], attribute: bool = False) -> str:
    if name.startswith("{") or name in (".", "*", ".."):
        return name
    prefix, _, local = name.rpartition(":")
    if prefix:
        if prefix not in namespaces:
            raise ValueError(f"prefix {prefix!r} in {name!r} is not in the layout's namespaces")
        return f"{{{namespaces[prefix]}}}{local}"
    default = "" if attribute else namespaces.get("", "")  # attributes have no default namespace
    return f"{{{default}}}{local}" if default else local


def _clark_step(step: str, namespaces: Mapping[str, str]) -> str:
    """One path step in Clark notation, its predicates' names too."""
    error = predicate_error(step)
    if error:
        raise ValueError(error)
    name, predicates = split_predicates(step)
    return _clark(name, namespaces) + rewrite_predicates(
        predicates, lambda n, attribute: _clark(n, namespaces, attribute=attribute))


def _compile_field(spec: str, namespaces: Mapping[str, str]) -> _Field:
    steps = split_steps(spec)
    attribute = None
    if steps and steps[-1].startswith("@"):
        attribute = _clark(steps.pop()[1:], namespaces, attribute=True)
    element = "/".join(_clark_step(s, namespaces) for s in steps) or None
    return _Field(element, attribute)


class _Records:
    """Expat target: follows the element path, builds a small tree per record, extracts fields."""

    def __init__(self, layout: XmlLayout, file: str, limits: ReadLimits) -> None:
        path = layout.record_path
        self.anywhere = path.startswith("//")
        self.steps = [_clark(s, layout.namespaces) for s in _STEP.findall(path.lstrip("/"))]
        if not self.steps:
            raise ValueError(f"record_path {path!r} names no element")
        self.fields = [_compile_field(f, layout.namespaces) for f in layout.fields]
        self.file, self.max_chars = file, limits.max_field_chars
        self.expat: Any = None  # the parser's expat object, for the current line
        self.stack: list[str] = []
        self.builder: TreeBuilder | None = None
        self.record_depth = 0
        self.values: list[list[str]] = [[] for _ in self.fields]
        self.lines: list[int] = []
        self.root: str | None = None
        self.container_seen = False
        self.near_miss: tuple[str, int] | None = None
        self.text_run = 0

    def line(self) -> int:
        return int(self.expat.CurrentLineNumber) if self.expat is not None else 0

    def _at(self, steps: list[str]) -> bool:
        if self.anywhere:
            tail = len(self.stack) - len(steps)
            return tail >= 0 and self.stack[tail:] == steps
        return self.stack == steps

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.stack.append(tag)
        self.text_run = 0
        line = self.line()
        if len(self.stack) > _MAX_DEPTH:
            raise rejected(self.file, "xml-too-deep", f"elements nest deeper than {_MAX_DEPTH} "
                           f"levels at line {line}", line=line)
        for name, value in attrib.items():
            if len(value) > self.max_chars:
                raise self._too_large(name, line)
        if self.root is None:
            self.root = tag
        if self.builder is None and self._at(self.steps):
            self.builder, self.record_depth = TreeBuilder(), len(self.stack)
            self.lines.append(line)
        if self.builder is not None:
            self.builder.start(tag, attrib)
            return
        if len(self.steps) > 1 and self._at(self.steps[:-1]):
            self.container_seen = True
        if self.near_miss is None and _local(tag) == _local(self.steps[-1]):
            self.near_miss = (tag, line)

    def end(self, tag: str) -> None:
        self.text_run = 0
        if self.builder is not None:
            self.builder.end(tag)
            if len(self.stack) == self.record_depth:
                self._extract(self.builder.close())
                self.builder = None
        self.stack.pop()

    def data(self, text: str) -> None:
        if self.builder is not None:
            self.text_run += len(text)
            if self.text_run > self.max_chars:
                raise self._too_large(self.stack[-1], self.line())
            self.builder.data(text)

    def close(self) -> None:
        return None

    def _too_large(self, name: str, line: int) -> FileRejected:
        return rejected(self.file, "field-too-large",
                        f"a value in {name!r} at line {line} is longer than the limit of "
                        f"{self.max_chars:,} characters (limits.max_field_chars)", line=line)

    def _extract(self, record: Element) -> None:
        for out, spec in zip(self.values, self.fields, strict=True):
            node = record if spec.element is None else record.find(spec.element)
            if node is None:
                out.append("")
            elif spec.attribute is not None:
                out.append(node.get(spec.attribute, ""))
            else:
                out.append("".join(node.itertext()))


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else "(none)"


def read_xml(path: Path, layout: XmlLayout, limits: ReadLimits = DEFAULT_LIMITS, *,
             name: str | None = None) -> Table:
    """Read the records of the XML file at ``path`` as text columns, one per layout field.

    ``name`` (default: the file's name) is the file named in problems. Raises ``FileRejected``
    for DTDs or entities (``xml-forbidden``), malformed XML, or a record path not found.
    """
    file = name or path.name
    check_size(path, limits.max_file_bytes, file)
    with open(path, "rb") as stream:
        return read_xml_stream(stream, layout, limits, file)


def read_xml_stream(stream: BinaryIO, layout: XmlLayout, limits: ReadLimits, file: str
                    ) -> Table:
    """Read the records of the XML document in ``stream`` (read in chunks) as text columns."""
    target = _Records(layout, file, limits)
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    target.expat = parser.parser  # the pure-Python parser exposes expat: lines for records
    _feed(parser, stream, limits.max_file_bytes, file)
    if not target.lines and not target.container_seen:
        raise _no_records(layout, target, file)
    columns = list(layout.fields)
    arrays = [pa.chunked_array([pa.array(v, pa.string())]) for v in target.values]
    lines = np.array(target.lines, dtype=np.int64)
    check_field_sizes(columns, arrays, lines, limits.max_field_chars, file)
    return finish(file, columns, to_frame(columns, arrays), lines, [], len(lines), limits)


def _feed(parser: DefusedXMLParser, stream: BinaryIO, max_bytes: int, file: str) -> None:
    seen = 0
    try:
        while chunk := stream.read(_CHUNK):
            seen += len(chunk)
            if seen > max_bytes:
                raise rejected(file, "file-too-large",
                               f"the file grew past the limit of {max_bytes:,} bytes while "
                               f"being read (limits.max_file_bytes)")
            parser.feed(chunk)
        parser.close()
    except DefusedXmlException as exc:
        line = int(parser.parser.CurrentLineNumber)
        kind = type(exc).__name__.removesuffix("Forbidden")
        raise rejected(file, "xml-forbidden",
                       f"line {line}: the file contains a {kind} declaration or reference "
                       f"({exc}); DTDs and entities are refused so "
                       f"nothing is read from disk or network", line=line) from None
    except ParseError as exc:
        line = exc.position[0]
        raise rejected(file, "xml-malformed", f"the file is not well-formed XML: {exc}",
                       line=line) from None


def _no_records(layout: XmlLayout, target: _Records, file: str) -> FileRejected:
    expected = ("//" if target.anywhere else "") + "/".join(target.steps)
    found = (f"the root element is {target.root}" if target.root else "the file has no elements")
    hint = ""
    if target.near_miss:
        tag, line = target.near_miss
        hint = (f"; an element {_local(tag)!r} was found at line {line} in namespace "
                f"{_namespace(tag)!r}")
    if target.root and _local(target.root) == _local(target.steps[0]) \
            and target.root != target.steps[0] and not target.anywhere:
        hint += (f"; the root's namespace is {_namespace(target.root)!r} but the layout expects "
                 f"{_namespace(target.steps[0])!r}")
    return rejected(file, "xml-no-records",
                    f"no records found at record_path {layout.record_path!r} ({expected}); "
                    f"{found}{hint}")
