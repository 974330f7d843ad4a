"""A plan's group changes sent to an external LMS (SCIM Groups, Moodle cohorts), and the
drift of those groups, the same way for every target.

A target offers a few group operations (``GroupEndpoint``); this module decides what to
send, in which order, and what the mirror learns from each answer:

- a group is created only by the connection that owns it, under an ownership key
  (``owner_key``) the LMS keeps with it; before creating one, the key is looked up, so a
  group a dead run created is adopted instead of made twice;
- before members are added to a group that already existed, its members are read:
  someone the LMS already holds was put there by hand (recorded so, never removed)
  unless a dead run of this connection sent that very add;
- each membership change is sent at most once per run (the group journal says what
  this run sent), one request per group for its adds and one for its removes;
- a refused request is a row error for each membership in it that the group does not
  show afterwards, not a failed run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from filebridge.failpoints import failpoint
from filebridge.lms.group_mirror import GroupMirror, MemberOutcome
from filebridge.lms.interface import ChangeOutcome
from filebridge.person import KEY

# Counts of a run's group changes, as the built-in store reports them.
GROUP_COUNTS = ("groups_created", "group_add", "group_remove")


def owner_key(connection: str, name: str) -> str:
    """The key an owned group carries in the LMS: the connection and the group's name."""
    return f"filebridge:{connection}:{name}"


@dataclass(frozen=True)
class Refusal:
    """A group request the LMS refused: a stable reason and the LMS's own words."""

    reason: str
    detail: str


class GroupEndpoint(Protocol):
    """The group operations of one external LMS, for one connection."""

    def find_group(self, key: str) -> str | None:
        """The LMS id of the group carrying ownership ``key``; None when there is none."""
        ...

    def create_group(self, name: str, key: str) -> str | Refusal:
        """Create a group shown as ``name`` carrying ``key``; its LMS id, or the refusal."""
        ...

    def member_ids(self, group_id: str) -> set[str] | None:
        """LMS ids of the group's members; None when the group no longer exists."""
        ...

    def add_members(self, group_id: str, member_ids: Sequence[str]) -> Refusal | None:
        """Add accounts (by LMS id) to the group; None when confirmed."""
        ...

    def remove_members(self, group_id: str, member_ids: Sequence[str]) -> Refusal | None:
        """Take accounts (by LMS id) out of the group; None when confirmed."""
        ...


@dataclass
class GroupSend:
    """One run's group changes for one connection, and what happened to them."""

    connection: str
    run_id: int | None
    now: datetime
    endpoint: GroupEndpoint
    mirror: GroupMirror
    people: Mapping[str, str]  # employee id -> the account's LMS id
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUP_COUNTS, 0))
    failed: list[ChangeOutcome] = field(default_factory=list)


def _wanted(changes: pd.DataFrame, action: str) -> dict[str, list[tuple[str, int | None]]]:
    frame = changes.loc[changes["action"] == action]
    out: dict[str, list[tuple[str, int | None]]] = {}
    for eid, group, line in zip(frame[KEY].astype(str), frame["group"].astype(str),
                                frame["line"], strict=True):
        out.setdefault(group, []).append((eid, None if pd.isna(line) else int(line)))
    return out


def send_groups(run: GroupSend, changes: pd.DataFrame) -> None:
    """Send ``changes`` (a plan's ``groups`` frame): adds group by group, then removes."""
    c, m = run.connection, run.mirror
    owned = m.owned(c)
    held = m.members(c)
    already = m.sent_in_run(c, run.run_id) if run.run_id is not None else set()
    open_adds = {(g, e) for g, e, a in m.left_open(c) if a == "add"}
    for group, rows in sorted(_wanted(changes, "add").items()):
        rows = [(e, line) for e, line in rows if e not in held.get(group, {})
                and (group, e, "add") not in already and e in run.people]
        if rows:
            _add(run, group, owned, rows, open_adds)
    for group, rows in sorted(_wanted(changes, "remove").items()):
        rows = [(e, line) for e, line in rows if held.get(group, {}).get(e)
                and (group, e, "remove") not in already and e in run.people]
        if rows and group in owned:
            _send(run, group, owned[group], "remove", rows)
    m.close_lost(c, run.now)


def _add(run: GroupSend, group: str, owned: dict[str, str],
         rows: list[tuple[str, int | None]], open_adds: set[tuple[str, str]]) -> None:
    c, m = run.connection, run.mirror
    gid = owned.get(group)
    present = run.endpoint.member_ids(gid) if gid is not None else None
    if gid is not None and present is None:
        m.forget_groups(c, [group])  # deleted in the LMS by hand: made again below
        gid = None
    if gid is None:
        gid = run.endpoint.find_group(owner_key(c, group))
        if gid is None:
            made = run.endpoint.create_group(group, owner_key(c, group))
            if isinstance(made, Refusal):
                run.failed += [ChangeOutcome(e, "group-add", "failed", made.reason,
                                             made.detail, line) for e, line in rows]
                return
            gid, present = made, set()
            run.counts["groups_created"] += 1
        m.own(c, group, gid, run.now)
        owned[group] = gid
    if present is None:
        present = run.endpoint.member_ids(gid) or set()
    there = [(e, line) for e, line in rows if run.people[e] in present]
    # Present already: a dead run's add that arrived is filebridge's; any other was
    # made by hand and is never removed.
    ours = [(group, e) for e, _ in there if (group, e) in open_adds]
    m.keep(c, ours, True, run.now)
    m.keep(c, [(group, e) for e, _ in there if (group, e) not in open_adds], False, run.now)
    run.counts["group_add"] += len(ours)
    _send(run, group, gid, "add", [(e, line) for e, line in rows
                                   if run.people[e] not in present])


def _send(run: GroupSend, group: str, gid: str, action: str,
          rows: list[tuple[str, int | None]]) -> None:
    if not rows:
        return
    run.mirror.intend(run.connection, run.run_id, [(group, e, action) for e, _ in rows],
                      run.now)
    ids = [run.people[e] for e, _ in rows]
    refused = run.endpoint.add_members(gid, ids) if action == "add" \
        else run.endpoint.remove_members(gid, ids)
    failpoint("group-sent")  # crash tests: the LMS has the change, the journal says sent
    done = {e for e, _ in rows}
    if refused is not None:
        # A refusal may be partial (one member the LMS does not know): what the group
        # holds now says which changes went through.
        present = run.endpoint.member_ids(gid) or set()
        done = {e for e, _ in rows if (run.people[e] in present) == (action == "add")}
    outcomes = [MemberOutcome(group, e, action, e in done,
                              "" if e in done or refused is None else refused.reason,
                              "" if e in done or refused is None else refused.detail)
                for e, _ in rows]
    run.mirror.settle(run.connection, run.run_id, outcomes, run.now)
    run.counts[f"group_{action}"] += len(done)
    if refused is not None:
        run.failed += [ChangeOutcome(e, f"group-{action}", "failed", refused.reason,
                                     refused.detail, line) for e, line in rows
                       if e not in done]


@dataclass
class GroupDrift:
    """Owned groups as the LMS holds them against the mirror."""

    deleted: list[str] = field(default_factory=list)  # owned groups gone from the LMS
    # (group, employee id) filebridge added that the LMS no longer holds.
    removed: list[tuple[str, str]] = field(default_factory=list)
    # Members recorded as made by hand that the LMS no longer holds either.
    gone_by_hand: list[tuple[str, str]] = field(default_factory=list)


def group_drift(endpoint: GroupEndpoint, mirror: GroupMirror, connection: str,
                people: Mapping[str, str]) -> GroupDrift:
    """Read each owned group of ``connection`` and compare it with the mirror."""
    drift = GroupDrift()
    held = mirror.members(connection)
    for group, gid in sorted(mirror.owned(connection).items()):
        present = endpoint.member_ids(gid)
        if present is None:
            drift.deleted.append(group)
            continue
        for eid, ours in sorted(held.get(group, {}).items()):
            if people.get(eid) not in present:
                (drift.removed if ours else drift.gone_by_hand).append((group, eid))
    return drift


def repair_groups(mirror: GroupMirror, connection: str, drift: GroupDrift) -> None:
    """Make the group mirror hold what the LMS holds; the next run adds back what the
    rules want (and makes a deleted group again)."""
    mirror.forget_groups(connection, drift.deleted)
    mirror.forget_members(connection, [*drift.removed, *drift.gone_by_hand])
