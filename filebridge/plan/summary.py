"""What a plan changes, as small typed values for a run report (lists cut at a limit).

A ``Plan`` holds pandas frames (a million creates stay cheap); a ``PlanSummary`` is the
part a person or a machine reads: counts and the first rows of each action. Its
``to_dict()`` is the run report's documented ``plan`` object (README, "--json output").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import pandas as pd

from filebridge.plan.model import FileKind, Plan

LIMIT = 1000
_Row = TypeVar("_Row")


@dataclass(frozen=True)
class FieldChange:
    """One changed field of an existing person."""

    employee_id: str
    field: str
    old: Any
    new: Any
    line: int | None


@dataclass(frozen=True)
class DriftChange:
    """An HR-owned field changed in the LMS outside filebridge: ``lms`` is what the LMS
    holds now, ``new`` what the file says (and filebridge had written), put back."""

    employee_id: str
    field: str
    lms: Any
    new: Any
    line: int | None


@dataclass(frozen=True)
class StateChange:
    """A deactivation, reactivation or deletion, and why (line None: not in the file)."""

    employee_id: str
    reason: str
    line: int | None


@dataclass(frozen=True)
class Rekey:
    """A rehire matched on e-mail: the stored account takes the new employee id."""

    employee_id: str
    old_employee_id: str
    line: int | None


@dataclass(frozen=True)
class Skip:
    """A row that changes nothing, and why."""

    employee_id: str
    reason: str
    message: str
    line: int | None


@dataclass(frozen=True)
class OrgChange:
    """A department or job title to create, rename, move or remove."""

    kind: str
    action: str
    code: str
    name: str
    parent_code: str
    old_name: str
    old_parent_code: str


@dataclass(frozen=True)
class GroupChange:
    """One person added to or removed from a group the connection owns."""

    employee_id: str
    group: str
    action: str  # add | remove
    line: int | None


@dataclass(frozen=True)
class GroupDrift:
    """A membership the rules made, removed in the LMS outside filebridge; put back."""

    employee_id: str
    group: str
    line: int | None


@dataclass(frozen=True)
class PlanSummary:
    """Counts and the first ``LIMIT`` rows of each action of one plan.

    ``creates`` rows carry ``employee_id``, the mapped fields and ``line``; which fields
    depends on the mapping, so they stay mappings.
    """

    connection: str
    file_kind: FileKind
    counts: Mapping[str, int]
    creates: tuple[Mapping[str, Any], ...] = ()
    updates: tuple[FieldChange, ...] = ()
    drift: tuple[DriftChange, ...] = ()
    deactivations: tuple[StateChange, ...] = ()
    reactivations: tuple[StateChange, ...] = ()
    deletes: tuple[StateChange, ...] = ()
    rekeys: tuple[Rekey, ...] = ()
    skipped: tuple[Skip, ...] = ()
    org: tuple[OrgChange, ...] = ()
    org_counts: Mapping[str, int] = field(default_factory=dict)
    groups: tuple[GroupChange, ...] = ()
    group_drift: tuple[GroupDrift, ...] = ()
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The run report's ``plan`` object, with the documented keys."""
        def rows(items: tuple[Any, ...]) -> list[dict[str, Any]]:
            # Values are plain scalars: no need for asdict's deep copy, which costs ~3x.
            names = [f.name for f in fields(items[0])] if items else []
            return [{n: getattr(i, n) for n in names} for i in items]

        return {
            "connection": self.connection, "file_kind": self.file_kind,
            "counts": dict(self.counts), "creates": [dict(r) for r in self.creates],
            "updates": rows(self.updates), "drift": rows(self.drift),
            "deactivations": rows(self.deactivations),
            "reactivations": rows(self.reactivations), "deletes": rows(self.deletes),
            "rekeys": rows(self.rekeys), "skipped": rows(self.skipped), "org": rows(self.org),
            "org_counts": dict(self.org_counts), "groups": rows(self.groups),
            "group_drift": rows(self.group_drift), "truncated": self.truncated,
        }


def _records(frame: pd.DataFrame, cols: list[str], limit: int | None) -> list[dict[str, Any]]:
    part = frame if limit is None else frame.head(limit)
    out = part.loc[:, cols].astype(object)
    return [{k: (None if pd.isna(v) else (int(v) if k == "line" else v)) for k, v in r.items()}
            for r in out.to_dict("records")]


def _typed(kind: type[_Row], frame: pd.DataFrame, limit: int | None) -> tuple[_Row, ...]:
    cols = [f.name for f in fields(kind)]  # type: ignore[arg-type]
    return tuple(kind(**r) for r in _records(frame, cols, limit))


def summarize(plan: Plan, limit: int | None = LIMIT) -> PlanSummary:
    """The summary of ``plan``; each list is cut at ``limit`` entries (None: all)."""
    create_cols = ["employee_id", *[f for f in plan.fields if f != "employee_id"], "line"]
    cut = limit is not None and any(
        len(f) > limit for f in (plan.creates, plan.updates, plan.drift, plan.deactivations,
                                 plan.reactivations, plan.deletes, plan.skipped,
                                 plan.groups))
    return PlanSummary(
        plan.connection, plan.file_kind, plan.counts(),
        creates=tuple(_records(plan.creates, create_cols, limit)),
        updates=_typed(FieldChange, plan.updates, limit),
        drift=_typed(DriftChange, plan.drift, limit),
        deactivations=_typed(StateChange, plan.deactivations, limit),
        reactivations=_typed(StateChange, plan.reactivations, limit),
        deletes=_typed(StateChange, plan.deletes, limit),
        rekeys=_typed(Rekey, plan.rekeys, limit),
        skipped=_typed(Skip, plan.skipped, limit),
        org=_typed(OrgChange, plan.org, limit),
        org_counts=plan.org_counts(), groups=_typed(GroupChange, plan.groups, limit),
        group_drift=_typed(GroupDrift, plan.group_drift, limit), truncated=cut)
