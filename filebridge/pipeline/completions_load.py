"""Record course results from a CSV file (`filebridge lms load-completions`).

People are found in the built-in store and in the mirrors of external targets (SCIM,
Moodle); results of mirrored people are kept beside the mirror, assignments only for
the built-in store's people.

The file has a header row with these columns (order free, extra columns refused):
``employee_id, course_code, status`` (required), ``course_title, completed_at, score,
time_spent_minutes, attempt, due_date`` (optional). ``status`` is completed, passed or
failed for a result, or ``assigned`` for an assignment with a ``due_date``. Dates are
ISO 8601 (``2026-11-20`` or ``2026-11-20T14:30:00+01:00``; no offset means UTC).
Loading the same file again changes nothing; a changed score or date is a correction.
Bad rows are rejected with line and column; the good rows are recorded in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from filebridge.formats import CsvDialect, FileRejected, read_csv
from filebridge.lms.completions import (
    STATUSES,
    AssignmentInput,
    CompletionInput,
)
from filebridge.pipeline.context import Context
from filebridge.pipeline.report import EXIT_OK, EXIT_REJECTED_OR_HELD, EXIT_UNUSABLE
from filebridge.problems import Problem, ProblemCode

REQUIRED = ("employee_id", "course_code", "status")
OPTIONAL = ("course_title", "completed_at", "score", "time_spent_minutes", "attempt", "due_date")


@dataclass
class LoadReport:
    """The outcome of loading one completions file."""

    file: str
    connection: str | None
    rows: int = 0
    rejected_rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    state_location: str = ""
    unusable: bool = False

    @property
    def exit_code(self) -> int:
        """0 all rows recorded, 1 some rows rejected, 2 the file is unusable."""
        if self.unusable:
            return EXIT_UNUSABLE
        return EXIT_REJECTED_OR_HELD if self.rejected_rows else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"file": self.file, "connection": self.connection, "rows": self.rows,
                "rejected_rows": self.rejected_rows, "counts": self.counts,
                "problems": [p.to_dict() for p in self.problems], "exit_code": self.exit_code,
                "state_location": self.state_location}


def load_completions(ctx: Context, path: Path, *, connection: str | None = None,
                     now: datetime | None = None) -> LoadReport:
    """Record the results and assignments of ``path``; people are looked up by employee id."""
    now = now or datetime.now(UTC)
    if connection is not None:
        ctx.connection(connection)  # an unknown name is an error listing the known ones
    report = LoadReport(path.name, connection, state_location=ctx.store.location)
    refused = _reads_its_own(ctx, connection, path.name)
    if refused is not None:
        report.unusable = True
        report.problems = [refused]
        return report
    try:
        table = read_csv(path, CsvDialect(), name=path.name)
    except FileRejected as exc:
        report.unusable = True
        report.problems = list(exc.problems)
        return report
    missing = [c for c in REQUIRED if c not in table.columns]
    unknown = [c for c in table.columns if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        report.unusable = True
        message = (f"missing columns {missing}; " if missing else "") + \
                  (f"unknown columns {unknown}; " if unknown else "") + \
                  f"expected {list(REQUIRED + OPTIONAL)}"
        report.problems = [Problem("missing-column" if missing else "unknown-column",
                                   message, path.name, 1)]
        return report
    report.rows = table.rows_read
    problems: list[Problem] = list(table.problems)
    rows = table.frame.to_dict("records")
    def build(people: dict[str, list[int | tuple[str, str]]]
              ) -> tuple[list[CompletionInput], list[AssignmentInput]]:
        results: list[CompletionInput] = []
        assignments: list[AssignmentInput] = []
        for row, line in zip(rows, table.lines.tolist(), strict=True):
            parsed = _parse(row, int(line), path.name, people, problems)
            if isinstance(parsed, CompletionInput):
                results.append(parsed)
            elif isinstance(parsed, AssignmentInput):
                assignments.append(parsed)
            due = _date(row.get("due_date", ""))
            if isinstance(parsed, CompletionInput) and isinstance(due, datetime) \
                    and isinstance(parsed.user_id, int):
                assignments.append(AssignmentInput(parsed.user_id, parsed.course_code,
                                                   parsed.course_title, due))
        return results, assignments

    report.counts = ctx.store.record_learning(connection, [r["employee_id"] for r in rows],
                                              build, now)
    report.problems = sorted(problems, key=lambda p: p.line or 0)
    report.rejected_rows = len({p.line for p in problems}) + \
        (table.rows_read - len(table.frame))
    return report


def _reads_its_own(ctx: Context, connection: str | None, file: str) -> Problem | None:
    """Open the external targets the file may name (their mirrors are where their people
    are); a problem when the named connection reads its results from its LMS instead."""
    names = [connection] if connection is not None else sorted(ctx.settings.connections)
    for name in names:
        block = ctx.connection(name).lms or {}
        if block.get("type", "built-in") == "built-in":
            continue
        ctx.target(name)
        source = (block.get("completions") or {}).get("source", "file")
        if name == connection and source != "file":
            return Problem("not-allowed", f"connection {name} reads its completions from "
                           f"its LMS (lms.completions.source: {source}); files are loaded "
                           "only for connections whose source is file", file)
    return None


def _parse(row: dict[str, str], line: int, file: str,
           people: dict[str, list[int | tuple[str, str]]],
           problems: list[Problem]) -> CompletionInput | AssignmentInput | None:
    """One row as a result or an assignment, or None with its problem recorded."""
    def bad(code: ProblemCode, column: str, message: str) -> None:
        problems.append(Problem(code, message, file, line, column, row.get(column, "")))

    found = people.get(row["employee_id"], [])
    if len(found) != 1:
        bad("unknown-person" if not found else "ambiguous-person", "employee_id",
            "no person with this employee id" if not found else
            "several connections have this employee id")
        return None
    if not row["course_code"].strip():
        bad("missing-value", "course_code", "course_code is empty")
        return None
    status, title = row["status"].strip().lower(), row.get("course_title", "").strip()
    due = _date(row.get("due_date", ""))
    if due is False:
        bad("invalid-date", "due_date", "not an ISO 8601 date")
        return None
    person = found[0]
    if not isinstance(person, int) and (status == "assigned" or due):
        column = "status" if status == "assigned" else "due_date"
        bad("not-allowed", column, "assignments and due dates are kept only for "
            "connections feeding the built-in store")
        return None
    if status == "assigned":
        assert isinstance(person, int)
        return AssignmentInput(person, row["course_code"].strip(), title, due or None)
    if status not in STATUSES:
        bad("invalid-status", "status", f"status must be one of {[*STATUSES, 'assigned']}")
        return None
    completed = _date(row.get("completed_at", ""))
    if not isinstance(completed, datetime):
        bad("invalid-date", "completed_at", "completed_at must be an ISO 8601 date")
        return None
    numbers: dict[str, Any] = {}
    for column, kind in (("score", float), ("time_spent_minutes", int), ("attempt", int)):
        text = row.get(column, "").strip()
        try:
            numbers[column] = kind(text) if text else None
        except ValueError:
            bad("invalid-number", column, f"{column} must be a number")
            return None
    if numbers["attempt"] is not None and numbers["attempt"] < 1:
        bad("invalid-number", "attempt", "attempt must be 1 or more")
        return None
    return CompletionInput(person, row["course_code"].strip(), title, status, completed,
                           numbers["score"], numbers["time_spent_minutes"],
                           numbers["attempt"] or 1)


def _date(text: str) -> datetime | None | Literal[False]:
    """An aware datetime, None for a blank cell, False for text that is not ISO 8601."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    # Stored as UTC: SQLite keeps no offset, so a local time would be misread later.
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
