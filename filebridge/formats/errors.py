"""Errors of the formats box: a file unusable as a whole, a value that cannot be written."""

from __future__ import annotations

from typing import Any

from filebridge.errors import Terminal
from filebridge.problems import Problem, ProblemCode


class FileRejected(Terminal):
    """The whole file is unusable (too large, undecodable, truncated, bad header, hostile XML).

    ``problems`` holds one or more ``Problem`` values with stable codes such as
    ``file-too-large``, ``undecodable-byte`` or ``xml-forbidden``.
    """

    code = "file-rejected"

    def __init__(self, file: str, problems: list[Problem]) -> None:
        super().__init__(file, problems)
        self.file = file
        self.problems = problems

    def __str__(self) -> str:
        return "; ".join(p.render() for p in self.problems) or f"{self.file}: rejected"

    def fields(self) -> dict[str, Any]:
        """The error's data for the ledger and ``--json`` output (problems as dicts)."""
        return {"file": self.file, "problems": [p.to_dict() for p in self.problems]}


def rejected(file: str, code: ProblemCode, message: str, *, line: int | None = None,
             column: str | None = None, value: str | None = None) -> FileRejected:
    """A ``FileRejected`` carrying a single problem (the common case)."""
    return FileRejected(file, [Problem(code, message, file, line, column, value)])


class CannotEncode(Terminal):
    """A value cannot be written in the dialect's encoding (e.g. a CJK name in cp1252).

    ``row`` is 0 for the header and 1 for the first data row.
    """

    code = "cannot-encode"

    def __init__(self, file: str, encoding: str, column: str, row: int, character: str) -> None:
        super().__init__(file, encoding, column, row, character)
        self.file = file
        self.encoding = encoding
        self.column = column
        self.row = row
        self.character = character

    def __str__(self) -> str:
        return (f"{self.file}: column {self.column!r}, row {self.row}: character "
                f"U+{ord(self.character):04X} cannot be written in {self.encoding}")
