"""The value every run returns: what happened, in numbers and problems.

The ledger stores it, ``--json`` prints it, human output renders it and the exit
code comes from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from filebridge.errors import ErrorInfo
from filebridge.problems import Problem

if TYPE_CHECKING:  # for the types only: the CLI's error path must not load pandas
    from filebridge.plan.guard import Hold
    from filebridge.plan.summary import PlanSummary


RunState = Literal["planned", "applied", "held", "rejected", "duplicate", "noop", "failed"]

EXIT_OK, EXIT_REJECTED_OR_HELD, EXIT_UNUSABLE, EXIT_UNAVAILABLE = 0, 1, 2, 3


class Progress(Protocol):
    """Where a long run reports how far it is."""

    def update(self, stage: str, done: int, total: int) -> None:
        """Called at each stage boundary (and within long stages)."""


class NullProgress:
    """Reports nothing (the default in library use)."""

    def update(self, stage: str, done: int, total: int) -> None:
        """Ignore the update."""


@dataclass(frozen=True)
class Refusal:
    """A change an undo left alone, and why (``field`` is blank for a whole-person action)."""

    employee_id: str
    action: str
    field: str
    reason: str


@dataclass(frozen=True)
class Adoption:
    """One LMS user a ``link`` run matched to a person of the file (blank note: adopted)."""

    user_id: int
    lms_employee_id: str | None
    email: str | None
    employee_id: str
    line: int
    note: str


@dataclass(frozen=True)
class Adoptions:
    """The plan of a ``link`` run: the matches it lists (and adopts, where the note is blank)."""

    adoptions: tuple[Adoption, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``link`` report's ``plan`` object."""
        return {"adoptions": [asdict(a) for a in self.adoptions]}


@dataclass
class RunReport:
    """The outcome of one import run."""

    connection: str
    file: str
    mode: Literal["plan", "apply"]
    state: RunState = "planned"
    run_id: int | None = None
    file_id: int | None = None
    sha256: str = ""
    rows: int = 0
    rejected_rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    plan: PlanSummary | Adoptions | None = None
    problems: list[Problem] = field(default_factory=list)
    problems_dropped: int = 0
    warnings: list[Problem] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    reject_file: str | None = None
    duplicate_of: int | None = None
    error: ErrorInfo | None = None
    timings: dict[str, float] = field(default_factory=dict)
    state_location: str = ""
    export_time: str | None = None  # the file's own export time, when the mapping says where
    about_run: int | None = None  # approve: the held run it applied; undo: the run undone
    refused: list[Refusal] = field(default_factory=list)  # undo: what it left alone

    @property
    def exit_code(self) -> int:
        """0 ok, 1 rows rejected or held, 2 unusable input."""
        if self.state in ("rejected", "failed"):
            return EXIT_UNUSABLE
        if self.state == "held" or self.rejected_rows or self.refused:
            return EXIT_REJECTED_OR_HELD
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {
            "run_id": self.run_id, "connection": self.connection, "file": self.file,
            "file_id": self.file_id, "sha256": self.sha256, "mode": self.mode,
            "state": self.state, "exit_code": self.exit_code, "rows": self.rows,
            "rejected_rows": self.rejected_rows, "counts": self.counts,
            "plan": {} if self.plan is None else self.plan.to_dict(),
            "problems": [p.to_dict() for p in self.problems],
            "problems_dropped": self.problems_dropped,
            "warnings": [p.to_dict() for p in self.warnings],
            "holds": [h.to_dict() for h in self.holds], "reject_file": self.reject_file,
            "duplicate_of": self.duplicate_of,
            "error": None if self.error is None else self.error.to_dict(),
            "timings": self.timings, "state_location": self.state_location,
            "export_time": self.export_time, "about_run": self.about_run,
            "refused": [asdict(r) for r in self.refused],
        }


def refused(report: RunReport, failed: Sequence[Any]) -> None:
    """Add the changes the LMS refused (``ChangeOutcome`` values) to the report as row
    errors with the LMS's own words: the run is applied, its exit code says rows failed."""
    for outcome in failed:
        detail = f": {outcome.detail}" if outcome.detail else ""
        report.problems.append(Problem(
            "lms-refused", f"{outcome.employee_id}: the LMS did not take the {outcome.action} "
            f"({outcome.reason}){detail}", report.file, outcome.line,
            value=outcome.employee_id))
    report.rejected_rows += len(failed)
