"""Errors of the mapping box."""

from __future__ import annotations

from dataclasses import dataclass, field

from filebridge.errors import Terminal


@dataclass
class MissingColumns(Terminal):
    """The file lacks columns the mapping reads (header drift): the file is rejected."""

    file: str
    missing: list[str]
    found: list[str] = field(default_factory=list)
    code: str = "missing-column"

    def __str__(self) -> str:
        return (f"{self.file}: missing column(s) {', '.join(map(repr, self.missing))}; "
                f"the header has {', '.join(map(repr, self.found))}")
