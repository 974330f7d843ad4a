"""Problems with input data: values, not exceptions.

A ``Problem`` is one thing wrong with a file or one of its rows, with a stable
kebab-case ``code`` and where it is: file, physical line (the header is line 1),
column and value. Readers, the mapping and validation all return problems; the
pipeline collects them into the run's report and the reject file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

Severity = Literal["error", "warning"]

# Every code a problem can carry. Producers pass these literals, so mypy rejects a code
# that is not listed here, and a test checks that each one has an entry (meaning and what
# to do) in the words the CLI prints (``filebridge.advice``).
ProblemCode = Literal[
    # the file as a whole: it is rejected
    "file-too-large", "empty-file", "undecodable-byte", "truncated-file",
    "delimiter-mismatch", "malformed-csv", "empty-header", "duplicate-header",
    "field-too-large", "xml-too-deep", "xml-forbidden", "xml-malformed", "xml-no-records",
    "missing-column", "unknown-column", "encoding-mismatch", "repeated-header", "hdl-file",
    "json-malformed", "json-too-deep", "json-no-records", "xlsx-unreadable", "xlsx-no-sheet",
    "archive-truncated", "archive-several-files", "archive-empty", "archive-corrupt",
    "archive-unsafe-name", "archive-symlink", "archive-encrypted", "archive-bomb",
    "archive-nested", "pgp-not-configured", "pgp-bad-key", "pgp-key-unreadable",
    "pgp-required", "pgp-no-key", "pgp-undecryptable", "pgp-bad-signature",
    # one row: it is rejected, the rest of the file goes on
    "ragged-row", "control-character", "too-many-problems", "unmapped-value",
    "invalid-date", "invalid-email", "not-allowed", "invalid-status", "invalid-number",
    "missing-key", "missing-email", "missing-value", "duplicate-key", "duplicate-email",
    "unknown-manager", "self-manager", "manager-cycle", "email-in-use", "department-cycle",
    "unknown-person", "ambiguous-person", "json-not-an-object", "json-not-a-value",
    # one change the LMS refused: the rest of the run is applied
    "lms-refused",
]
PROBLEM_CODES: frozenset[str] = frozenset(get_args(ProblemCode))


@dataclass(frozen=True)
class Problem:
    """One problem found in input data.

    ``line`` is None for a whole-file problem; ``column`` is the source column
    (CSV header or XML path) or None when the problem is about the whole row.
    """

    code: ProblemCode
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
