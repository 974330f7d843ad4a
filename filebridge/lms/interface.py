"""The LMS behind one small interface: what the pipeline needs from any LMS target.

Implementations: the built-in SQL store (``SqlStore``, SQLite or PostgreSQL), an
in-memory store for tests (``MemoryLms``), and external LMSs (SCIM 2.0). Each keeps
its own transactions or, where the target has none, its own at-most-once bookkeeping:
nothing above ``lms`` sees an engine, a connection or a transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import pandas as pd

from filebridge.plan.model import Plan
from filebridge.plan.state import ActualState

Outcome = Literal["confirmed", "failed"]


@dataclass(frozen=True)
class Capabilities:
    """What a target can do; the pipeline and the CLI ask instead of guessing."""

    transactions: bool  # a plan is applied all or nothing
    completions: bool  # ``completions()`` answers from the LMS itself
    org: bool  # departments and job titles are kept as records of their own
    undo: bool  # ``undo_plan`` can reverse a run from the target's own journal
    adopt: bool  # ``adoption_candidates`` / link can adopt unmanaged accounts
    groups: bool = False  # group memberships go through ``apply``


@dataclass(frozen=True)
class ChangeOutcome:
    """One change the target refused (a row error of the run, not a failed run)."""

    employee_id: str
    action: str  # create | update | deactivate | reactivate | delete | rekey | manager
    outcome: Outcome
    reason: str  # a stable kebab-case code, e.g. ``uniqueness``, ``invalid-value``
    detail: str = ""  # the target's own words
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the keys of the run report's ``failed_changes``."""
        return {"employee_id": self.employee_id, "action": self.action,
                "outcome": self.outcome, "reason": self.reason, "detail": self.detail,
                "line": self.line}


@dataclass
class ApplyResult:
    """What ``apply`` did: counts per action, and every change the target refused.

    A transactional target either applies everything (``failed`` empty) or raises.
    """

    counts: dict[str, int] = field(default_factory=dict)
    failed: list[ChangeOutcome] = field(default_factory=list)


class Receipt(Protocol):
    """The ledger's "applied" mark for a run, handed through the pipeline unopened.

    A target whose changes live in the same database as the ledger writes the mark in
    its own transaction (``within`` is that transaction), so changes and mark commit
    together; any other target records the intent first, marks the run in its own
    journal, and writes the mark after its changes with ``within=None``.
    """

    def shares(self, database: object) -> bool:
        """True when the ledger lives in ``database`` (a target's engine)."""
        ...

    def check(self) -> None:
        """Raise (a transient error) when the run may no longer commit: its connection
        lock was lost, so another run may hold the connection. Asked right before a
        commit, or before the first change of a target without transactions."""
        ...

    def intend(self, plan_digest: str, counts: Mapping[str, int]) -> None:
        """Record the run's intent in the ledger before a target that does not share the
        ledger's database writes anything; the target then marks the run in its own
        journal with its changes, so an interrupted run can be settled from there."""
        ...

    def write(self, counts: Mapping[str, int], within: object | None,
              failed: Sequence[ChangeOutcome] = ()) -> None:
        """Record the run as applied with these counts, and the changes the target
        refused (row errors of the run)."""
        ...


@runtime_checkable
class Lms(Protocol):
    """An LMS that filebridge reconciles."""

    capabilities: Capabilities
    location: str  # where it lives, safe to print (no password, no token)

    def prepare(self) -> list[str]:
        """Make the target ready (create or migrate tables; read a server's
        configuration); returns what was done, for the log."""
        ...

    def state(self, connection: str) -> ActualState:
        """Read access for planning one connection."""
        ...

    def apply(self, plan: Plan, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Write ``plan``; ``receipt`` is written as described in ``Receipt``."""
        ...

    def users(self, connection: str | None, *, active: bool | None = None,
              limit: int | None = None) -> pd.DataFrame:
        """People for display, optionally one connection's and only (in)active ones."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class GroupDirectory(Protocol):
    """What a target with ``capabilities.groups`` tells about its groups, for display."""

    def groups(self, connection: str | None) -> pd.DataFrame:
        """Groups (of one connection, or all): ``connection, group, members, by_rule,
        by_hand``; ``by_rule`` counts the memberships the connection's rules made."""
        ...

    def group_members(self, connection: str, name: str) -> pd.DataFrame | None:
        """Members of one group the connection owns (``employee_id, managed_by, by_rule,
        added_at``); None when it owns no such group."""
        ...



@runtime_checkable
class LearningRecords(Protocol):
    """Where the export road reads one connection's course results from: the built-in
    store, the results loaded for an external target's people, or the LMS itself."""

    def completions_for_export(self, connection: str, *, after_revision: int | None = None,
                               completed_from: datetime | None = None,
                               completed_until: datetime | None = None) -> pd.DataFrame:
        """Results after a revision (the watermark), or completed in a date range, oldest
        revision first; an optional ``item`` column names each result for the ledger."""
        ...

    def overdue_assignments(self, connection: str, now: datetime, *,
                            due_from: datetime | None = None) -> pd.DataFrame:
        """Assignments past due at ``now`` and not completed."""
        ...
