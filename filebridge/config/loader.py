"""YAML loading that remembers where every key came from.

``yaml.safe_load`` throws positions away, but every configuration error we show
names a line, so we compose the node tree ourselves (SafeLoader rules: no Python
tags, ever) and build plain data plus a map from key path to 1-based line.
PyYAML silently keeps the last of two equal keys; we report it instead, because
a duplicated field in a mapping is almost always a copy-paste accident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from filebridge.config.errors import ConfigError, ConfigProblem

KeyPath = tuple[str | int, ...]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Aliases share nodes, so a few lines of anchors can expand to billions of values
# ("billion laughs"); no real configuration comes near this many.
_MAX_VALUES = 200_000


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: plain ``data`` plus the line of every key path.

    ``name`` is how problems refer to the file (usually relative to the settings
    folder). ``data`` is hidden from the repr because a mis-written settings
    file may hold a secret.
    """

    path: Path
    name: str
    data: Any = field(repr=False)
    lines: Mapping[KeyPath, int] = field(repr=False, default_factory=dict)

    def line_of(self, key_path: Sequence[str | int]) -> int | None:
        """Line of ``key_path``, else of its deepest existing ancestor; None if empty."""
        kp = tuple(key_path)
        while kp not in self.lines:
            if not kp:
                return None
            kp = kp[:-1]
        return self.lines[kp]

    def problem(self, key_path: Sequence[str | int], message: str) -> ConfigProblem:
        """A ``ConfigProblem`` about ``key_path`` in this document."""
        return ConfigProblem(self.name, self.line_of(key_path), format_key_path(key_path), message)


def format_key_path(key_path: Sequence[str | int]) -> str:
    """``('fields', 'email', 'transform', 1)`` as ``fields.email.transform[1]``."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_yaml(path: Path, name: str | None = None) -> Document:
    """Read and parse one YAML file; raise ``ConfigError`` if it is missing or malformed."""
    shown = name if name is not None else str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(shown, None, "", f"file not found: {path}")]) from None
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError([ConfigProblem(shown, None, "", message)]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        raise ConfigError([ConfigProblem(shown, line, "", message)]) from None
    return parse_yaml(text, path, shown)


def parse_yaml(text: str, path: Path, name: str) -> Document:
    """Parse YAML ``text`` (already read from ``path``) into a ``Document``."""
    try:
        # The reader checks for forbidden characters already in the constructor.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, name)]) from None
    try:
        root = loader.get_single_node()
        builder = _Builder(loader, name)
        data = builder.build(root, ()) if root is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, name)]) from None
    finally:
        loader.dispose()
    if root is not None:
        builder.lines[()] = root.start_mark.line + 1
    if builder.problems:
        raise ConfigError(sorted(builder.problems, key=lambda p: p.line or 0))
    return Document(path, name, data, builder.lines)


def _syntax_problem(exc: yaml.YAMLError, text: str, name: str) -> ConfigProblem:
    """Turn a PyYAML exception into a problem at the line PyYAML points at."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.problem.startswith("but "):
            # "expected a single document in the stream, but found another document"
            message = f"YAML syntax error: {exc.context}, {exc.problem}"
        elif exc.context and exc.problem and exc.context_mark and exc.context_mark is not mark:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return ConfigProblem(name, line, "", message)
    position = getattr(exc, "position", None)
    line = text[:position].count("\n") + 1 if isinstance(position, int) else None
    reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return ConfigProblem(name, line, "", f"YAML syntax error: {reason}")


class _Builder:
    """Walks a composed node tree into plain data, recording lines and problems."""

    def __init__(self, loader: yaml.SafeLoader, name: str) -> None:
        self.loader = loader
        self.name = name
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[ConfigProblem] = []
        self._count = 0
        self._active: set[int] = set()

    def _problem(self, node: Node, path: KeyPath, message: str) -> None:
        line = node.start_mark.line + 1
        self.problems.append(ConfigProblem(self.name, line, format_key_path(path), message))

    def build(self, node: Node, path: KeyPath) -> Any:
        """The plain value of ``node``; problems are collected, not raised."""
        self._count += 1
        if self._count > _MAX_VALUES:
            raise yaml.MarkedYAMLError(
                problem=f"too many values (over {_MAX_VALUES}); are aliases expanding?",
                problem_mark=node.start_mark,
            )
        if isinstance(node, ScalarNode):
            try:
                return self.loader.construct_object(node)
            except ConstructorError as exc:
                self._problem(node, path, f"unsupported YAML value: {exc.problem}")
                return None
        if id(node) in self._active:
            self._problem(node, path, "an alias refers to the value it is part of")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
        return None  # pragma: no cover - composer yields only the three node kinds

    def _sequence(self, node: SequenceNode, path: KeyPath) -> list[Any]:
        if node.tag != _SEQ_TAG:
            self._problem(node, path, f"unsupported YAML tag {node.tag!r}; write a plain list")
        out: list[Any] = []
        for index, item in enumerate(node.value):
            self.lines[path + (index,)] = item.start_mark.line + 1
            out.append(self.build(item, path + (index,)))
        return out

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            self._problem(node, path, f"unsupported YAML tag {node.tag!r}; write a plain mapping")
        self._check_duplicates(node, path)
        try:
            # Resolves '<<: *anchor' merge keys; explicit keys come last and so win.
            self.loader.flatten_mapping(node)
        except ConstructorError as exc:
            self._problem(node, path, f"bad merge key: {exc.problem}")
            return {}
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a key must be plain text, not a list or mapping")
                continue
            # The key's source text, not its YAML 1.1 meaning: 'on:' stays "on", not True.
            key = key_node.value
            self.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, path + (key,))
        return out

    def _check_duplicates(self, node: MappingNode, path: KeyPath) -> None:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = key_node.value
            if key in seen:
                self._problem(
                    key_node,
                    path,
                    f"duplicate key {key!r} (first at line {seen[key]}); "
                    "YAML would silently keep only the last one",
                )
            else:
                seen[key] = key_node.start_mark.line + 1
