"""Groups as the pipeline and the commands see them: a listing per connection, and what
a run does when the connection's LMS has no groups."""

from __future__ import annotations

from dataclasses import dataclass

from filebridge.lms.interface import GroupDirectory, Lms
from filebridge.pipeline.errors import UnknownGroup, UnsupportedByTarget
from filebridge.plan.model import Plan
from filebridge.problems import Problem


@dataclass(frozen=True)
class GroupRow:
    """One group a connection owns and how many members it has."""

    group: str
    members: int
    by_rule: int  # made by the connection's rules (a run may remove them)
    by_hand: int  # made in the LMS by hand (never removed by a run)


@dataclass(frozen=True)
class MemberRow:
    """One member of a group."""

    employee_id: str
    managed_by: str
    by_rule: bool


def _directory(target: Lms, connection: str) -> GroupDirectory:
    if not target.capabilities.groups or not isinstance(target, GroupDirectory):
        raise UnsupportedByTarget(connection, "groups", target.location)
    return target


def group_rows(target: Lms, connection: str) -> list[GroupRow]:
    """The groups ``connection`` owns, by name, with member counts."""
    frame = _directory(target, connection).groups(connection)
    return [GroupRow(str(r.group), int(r.members), int(r.by_rule), int(r.by_hand))
            for r in frame.itertuples(index=False)]


def member_rows(target: Lms, connection: str, group: str) -> list[MemberRow]:
    """The members of ``connection``'s group ``group``, by employee id."""
    frame = _directory(target, connection).group_members(connection, group)
    if frame is None:
        raise UnknownGroup(connection, group)
    return [MemberRow(str(r.employee_id), str(r.managed_by), bool(r.by_rule))
            for r in frame.itertuples(index=False)]


def keeps_groups(target: Lms, connection: str) -> bool:
    """Whether ``connection``'s group changes reach its LMS: the target keeps groups and,
    where that depends on the server (SCIM: a Group resource type), its server does."""
    if not target.capabilities.groups:
        return False
    ask = getattr(target, "keeps_groups", None)
    return True if ask is None else bool(ask(connection))


def without_groups(plan: Plan, file: str) -> Problem:
    """Take the group changes out of ``plan`` (its LMS has no groups) and say so."""
    plan.groups = plan.groups.iloc[0:0]
    plan.group_fingerprints = plan.group_fingerprints.iloc[0:0]
    plan.group_drift = plan.group_drift.iloc[0:0]
    plan.groups_planned = False
    return Problem("groups-unsupported", "the mapping has group rules but this "
                   "connection's LMS has no groups; no group was changed", file,
                   severity="warning")
