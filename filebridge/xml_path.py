"""The XML path language of mappings: steps, attributes and predicates, without a parser.

A path is steps separated by ``/``; a step is a name (``hr:Email``, ``{urn:x}Email``)
with optional predicates; the last step may be ``@attribute``. Predicates pick one of
several repeated elements: ``[@type='Work']`` (an attribute's value), ``[Kind='Work']``
(a child's text), ``[@primary]`` (the attribute is present), ``[2]`` (the second one,
1-based). Shared by the mapping check and the XML reader, so both read paths alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

_PREDICATE: Final = re.compile(
    r"\[\s*(?:(?P<pos>[1-9][0-9]*)"
    r"|(?P<at>@?)(?P<name>(?:\{[^}]*\})?[A-Za-z_][\w.:-]*)"
    r"(?:\s*=\s*(?P<value>'[^']*'|\"[^\"]*\"))?)\s*\]")


def split_steps(path: str) -> list[str]:
    """``path`` split on the ``/`` that are outside ``{uri}`` and ``[predicate]``."""
    steps: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in path:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(depth - 1, 0)
        if ch == "/" and depth == 0:
            steps.append("".join(current))
            current = []
        else:
            current.append(ch)
    steps.append("".join(current))
    return [s for s in steps if s]


def split_predicates(step: str) -> tuple[str, str]:
    """A step's name and the predicate text after it (``""`` when it has none)."""
    start = step.index("}") + 1 if step.startswith("{") and "}" in step else 0
    cut = step.find("[", start)
    return (step, "") if cut < 0 else (step[:cut], step[cut:])


def predicate_error(step: str) -> str | None:
    """Why the predicates of ``step`` cannot be read, or None when they can."""
    _name, predicates = split_predicates(step)
    rest = _PREDICATE.sub("", predicates)
    if rest.strip():
        return (f"cannot read the predicate {predicates!r} in step {step!r}; write "
                f"[@attribute='value'], [child='value'], [@attribute] or [n]")
    return None


def rewrite_predicates(predicates: str, name_of: Callable[[str, bool], str]) -> str:
    """``predicates`` with each attribute or child name replaced by ``name_of(name,
    is_attribute)`` (e.g. prefixes resolved to namespace URIs)."""
    def one(m: re.Match[str]) -> str:
        if m.group("pos"):
            return f"[{m.group('pos')}]"
        at = m.group("at")
        name = name_of(m.group("name"), bool(at))
        value = m.group("value")
        return f"[{at}{name}" + (f"={value}" if value else "") + "]"

    return _PREDICATE.sub(one, predicates)


def prefixes_of(path: str) -> list[str]:
    """Namespace prefixes used in ``path``'s names (not in quoted predicate values)."""
    found: dict[str, None] = {}
    for step in split_steps(path):
        name, predicates = split_predicates(step)
        names = [name.lstrip("@")]
        names += [m.group("name") for m in _PREDICATE.finditer(predicates) if m.group("name")]
        for n in names:
            if not n.startswith("{") and ":" in n:
                found.setdefault(n.partition(":")[0], None)
    return list(found)
