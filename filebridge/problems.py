"""Problems with input data: values, not exceptions.

A ``Problem`` is one thing wrong with a file or one of its rows, with a stable
kebab-case ``code`` and where it is: file, physical line (the header is line 1),
column and value. Readers, the mapping and validation all return problems; the
pipeline collects them into the run's report and the reject file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One problem found in input data.

    ``line`` is None for a whole-file problem; ``column`` is the source column
    (CSV header or XML path) or None when the problem is about the whole row.
    """

    code: str
    message: str
    file: str = ""
    line: int | None = None
    column: str | None = None
    value: str | None = None
    severity: Severity = "error"
    related_lines: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with stable keys."""
        d = asdict(self)
        d["related_lines"] = list(self.related_lines)
        return d

    def render(self) -> str:
        """One line for people: ``file:line: column: message``."""
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        col = f" {self.column}:" if self.column else ""
        return f"{where}:{col} {self.message}"


@dataclass
class ProblemList:
    """Problems collected up to a cap; past the cap only a count is kept."""

    cap: int = 1000
    items: list[Problem] = field(default_factory=list)
    dropped: int = 0

    def add(self, problem: Problem) -> None:
        """Keep ``problem`` unless the cap is reached, then only count it."""
        if len(self.items) < self.cap:
            self.items.append(problem)
        else:
            self.dropped += 1

    def extend(self, problems: Iterable[Problem]) -> None:
        """Add several problems."""
        for p in problems:
            self.add(p)

    def errors(self) -> list[Problem]:
        """Only the problems of severity error."""
        return [p for p in self.items if p.severity == "error"]

    def flatten(self, keys: Sequence[str]) -> list[list[Any]]:
        """Problems as lists of the named attributes (handy in tests)."""
        return [[getattr(p, k) for k in keys] for p in self.items]
