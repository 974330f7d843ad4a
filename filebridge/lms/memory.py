"""An LMS held in memory: the reference implementation of the ``Lms`` interface.

Plain dicts, no SQL: the plan's unit and property tests run against it, and the LMS
contract suite holds the built-in store and every external target to the same
promises. It is transactional (a plan is applied to a copy that replaces the people
only when every change succeeded) and refuses a stale plan like the built-in store.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from filebridge.lms.errors import InvalidFieldName, StalePlan
from filebridge.lms.interface import ApplyResult, Capabilities, Receipt
from filebridge.person import CANONICAL_FIELDS, CUSTOM_FIELD, KEY
from filebridge.plan.model import Plan
from filebridge.plan.org import StoredOrg, department_key
from filebridge.plan.state import DRIFT_MARK_COLUMNS

# The fields a person has in ``users()``: the built-in store's columns, every canonical
# field but the key (status drives ``active``; its column stays blank unless a plan names it).
SHOWN_FIELDS = tuple(f for f in CANONICAL_FIELDS if f != KEY)


@dataclass
class Person:
    """One account: its connection (None: not managed), fields, state and fingerprint."""

    managed_by: str | None
    fields: dict[str, str]
    active: bool = True
    fingerprint: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deactivated_at: datetime | None = None
    # (owning connection, group name) -> the connection that added them (None: by hand)
    groups: dict[tuple[str | None, str], str | None] = field(default_factory=dict)


@dataclass
class _World:
    # (connection, employee_id) -> person
    people: dict[tuple[str | None, str], Person] = field(default_factory=dict)
    # (managed_by, code) -> (name, parent_code): each connection has its own departments,
    # as in the built-in store; managed_by None marks those made in the LMS itself.
    departments: dict[tuple[str | None, str], tuple[str, str]] = field(default_factory=dict)
    # job titles as (managed_by, name), likewise per connection (a dict keeps their order)
    job_titles: dict[tuple[str | None, str], None] = field(default_factory=dict)
    # (owning connection or None, name) of every group
    groups: set[tuple[str | None, str]] = field(default_factory=set)


class MemoryLms:
    """People, departments and job titles in dicts; every write all or nothing."""

    capabilities = Capabilities(transactions=True, completions=False, org=True, undo=False,
                                adopt=False, groups=True)
    location = "memory"

    def __init__(self) -> None:
        self.world = _World()
        self.applied: list[tuple[int | None, dict[str, int]]] = []  # (run_id, counts) in order

    def prepare(self) -> list[str]:
        """Nothing to create."""
        return []

    def close(self) -> None:
        """Nothing to release."""

    def state(self, connection: str) -> MemoryState:
        """Read access for planning ``connection``."""
        return MemoryState(self, connection)

    def add_unmanaged(self, employee_id: str, **fields: str) -> None:
        """An account made in the LMS by hand (no connection manages it)."""
        self.world.people[(None, employee_id)] = Person(None, dict(fields))

    def add_member_by_hand(self, owner: str | None, group: str, managed_by: str | None,
                           employee_id: str) -> None:
        """A membership made in the LMS by hand (the group is created when missing)."""
        self.world.groups.add((owner, group))
        self.world.people[(managed_by, employee_id)].groups[(owner, group)] = None

    def group_members(self, owner: str | None, group: str) -> dict[str, str | None]:
        """Employee id → who added them, for one group."""
        return {i: p.groups[(owner, group)] for (_, i), p in sorted(
            self.world.people.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
            if (owner, group) in p.groups}

    def apply(self, plan: Plan, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Apply ``plan`` to a copy and keep it only if every change succeeded."""
        world = copy.deepcopy(self.world)
        counts = _write(world, plan, now)
        if receipt is not None:
            receipt.check()  # the swap below is this target's commit
        self.world = world
        self.applied.append((run_id, counts))
        if receipt is not None:
            receipt.write(counts, None)
        return ApplyResult(counts)

    def users(self, connection: str | None, *, active: bool | None = None,
              limit: int | None = None) -> pd.DataFrame:
        """People with every field, ordered by connection and employee id."""
        rows = []
        for (managed_by, employee_id), p in sorted(self.world.people.items(),
                                                   key=lambda kv: (kv[0][0] or "", kv[0][1])):
            if connection is not None and managed_by != connection:
                continue
            if active is not None and p.active != active:
                continue
            rows.append({"managed_by": managed_by, KEY: employee_id,
                         **{f: p.fields.get(f, "") for f in SHOWN_FIELDS},
                         "active": p.active, "created_at": p.created_at,
                         "updated_at": p.updated_at, "deactivated_at": p.deactivated_at})
        columns = ["managed_by", KEY, *SHOWN_FIELDS, "active", "created_at", "updated_at",
                   "deactivated_at"]
        return pd.DataFrame(rows[:limit] if limit is not None else rows, columns=columns)


class MemoryState:
    """``ActualState`` of one connection of a ``MemoryLms``."""

    def __init__(self, lms: MemoryLms, connection: str) -> None:
        self.lms = lms
        self.connection = connection

    def _mine(self) -> list[tuple[str, Person]]:
        return [(i, p) for (c, i), p in self.lms.world.people.items() if c == self.connection]

    def snapshot(self, group_fingerprints: bool = False) -> pd.DataFrame:
        """``employee_id``, ``fingerprint`` (int64), ``active`` of the connection's people; no
        ``group_fingerprint`` even when asked: none is kept, so every plan compares
        everyone's memberships."""
        mine = self._mine()
        return pd.DataFrame({
            KEY: pd.Series([i for i, _ in mine], dtype="str"),
            "fingerprint": np.array([p.fingerprint for _, p in mine], dtype=np.int64),
            "active": np.array([p.active for _, p in mine], dtype=bool)})

    def fetch(self, employee_ids: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """Stored ``fields`` of these people, indexed by ``employee_id``; "" is blank."""
        wanted = [f for f in _checked(fields) if f != KEY]
        people = self.lms.world.people
        ids = [i for i in dict.fromkeys(employee_ids) if (self.connection, i) in people]
        return pd.DataFrame(
            [[people[(self.connection, i)].fields.get(f, "") for f in wanted] for i in ids],
            index=pd.Index(ids, name=KEY), columns=wanted, dtype=object)

    def drift(self) -> pd.DataFrame:
        """None: every write to the in-memory store goes through ``apply``."""
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in DRIFT_MARK_COLUMNS})

    def existing_ids(self, employee_ids: Iterable[str]) -> set[str]:
        """Which ids exist under any connection or none."""
        known = {i for _, i in self.lms.world.people}
        return {str(i) for i in employee_ids} & known

    def holders_of_emails(self, emails: Sequence[str]) -> pd.DataFrame:
        """Every account using one of ``emails``."""
        wanted = set(emails) - {""}
        rows = [(p.fields.get("email", ""), c, i, p.active)
                for (c, i), p in self.lms.world.people.items()
                if p.fields.get("email", "") in wanted]
        frame = pd.DataFrame(rows, columns=["email", "managed_by", KEY, "active"], dtype=object)
        frame["active"] = frame["active"].astype(bool)
        return frame

    def manager_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """The id each email names unambiguously: this connection first, active first."""
        best: dict[str, tuple[int, set[str]]] = {}
        for email, managed_by, employee_id, active in self.holders_of_emails(
                emails).itertuples(index=False):
            rank = (managed_by != self.connection) * 2 + (not active)
            current = best.get(email)
            if current is None or rank < current[0]:
                best[email] = (rank, {employee_id})
            elif rank == current[0]:
                current[1].add(employee_id)
        return {e: next(iter(ids)) for e, (_, ids) in best.items() if len(ids) == 1}

    def inactive_since(self, cutoff: datetime) -> frozenset[str]:
        """The connection's people deactivated at or before ``cutoff``."""
        return frozenset(i for i, p in self._mine() if not p.active
                         and p.deactivated_at is not None and p.deactivated_at <= cutoff)

    def org(self) -> StoredOrg:
        """This connection's departments and job titles, and those made in the LMS itself
        unless the connection has its own of the same code or name."""
        world, c = self.lms.world, self.connection
        own_codes = {code for owner, code in world.departments if owner == c}
        own_titles = {name for owner, name in world.job_titles if owner == c}
        deps = [(code, n, pc, owner) for (owner, code), (n, pc) in world.departments.items()
                if owner == c or (owner is None and code not in own_codes)]
        titles = [(name, owner) for owner, name in world.job_titles
                  if owner == c or (owner is None and name not in own_titles)]
        return StoredOrg(
            pd.DataFrame(deps, columns=["code", "name", "parent_code", "managed_by"],
                         dtype=object),
            pd.DataFrame(titles, columns=["name", "managed_by"], dtype=object))

    def memberships(self, people: Sequence[str] | None = None,
                    other_than: Collection[str] | None = None) -> pd.DataFrame:
        """Members of this connection's groups who are its people, and which it made
        (narrowed as ``ActualState.memberships`` says)."""
        wanted = None if people is None else set(people)
        rows = [(name, i, added == self.connection) for i, p in self._mine()
                for (owner, name), added in p.groups.items() if owner == self.connection
                and (wanted is None or i in wanted
                     or (other_than is not None and name not in other_than))]
        frame = pd.DataFrame(rows, columns=["group", KEY, "ours"], dtype=object)
        frame["ours"] = frame["ours"].astype(bool)
        return frame

    def group_drift(self) -> pd.DataFrame:
        """Nothing is noticed here: every plan compares every membership anyway."""
        return pd.DataFrame({KEY: pd.Series([], dtype=object),
                             "group": pd.Series([], dtype=object)})

    def org_usage(self, fields: Sequence[str], codes: Sequence[str],
                  titles: Sequence[str]) -> pd.DataFrame:
        """Active people of this connection using these department codes or job titles:
        another connection's people use its own departments."""
        key = department_key(fields) or "department_code"
        rows: list[tuple[Any, ...]] = []
        for (c, i), p in self.lms.world.people.items():
            if not p.active or c != self.connection:
                continue
            if p.fields.get(key, "") in set(codes):
                rows.append(("department", p.fields[key], c, i))
            if p.fields.get("job_title", "") in set(titles):
                rows.append(("job_title", p.fields["job_title"], c, i))
        return pd.DataFrame(rows, columns=["kind", "value", "managed_by", KEY], dtype=object)


def _checked(fields: Iterable[str]) -> list[str]:
    out = []
    for name in fields:
        if name not in CANONICAL_FIELDS and not CUSTOM_FIELD.match(name):
            raise InvalidFieldName(name)
        out.append(name)
    return out


def _write(world: _World, plan: Plan, now: datetime) -> dict[str, int]:
    """Apply ``plan`` to ``world`` in the built-in store's order; raise ``StalePlan`` on
    anything the plan did not expect."""
    c, people = plan.connection, world.people
    _checked(plan.fields)
    _checked(plan.updates["field"].unique().tolist())
    for row in plan.rekeys.itertuples(index=False):
        person = people.pop((c, str(row.old_employee_id)), None)
        if person is None:
            raise StalePlan(c, "rekey", len(plan.rekeys), 0)
        person.updated_at = now
        people[(c, str(row.employee_id))] = person
    fields = [f for f in plan.fields if f != KEY]
    for row in plan.creates.to_dict("records"):
        key = (c, str(row[KEY]))
        if key in people:
            raise StalePlan(c, "create", len(plan.creates), 0)
        people[key] = Person(c, {f: _text(row.get(f)) for f in fields}, True,
                             int(row["fingerprint"]), now, now)
    for row in plan.updates.itertuples(index=False):
        person = people.get((c, str(row.employee_id)))
        if person is None:
            raise StalePlan(c, f"update {row.field}", len(plan.updates), 0)
        person.fields[str(row.field)] = _text(row.new)
        person.updated_at = now
    for row in plan.fingerprints.itertuples(index=False):
        if (c, str(row.employee_id)) in people:
            people[(c, str(row.employee_id))].fingerprint = int(row.fingerprint)
    counts = {"create": len(plan.creates), "update": plan.updated_people,
              "fields_updated": len(plan.updates)}
    if plan.groups_planned:
        counts.update(_groups(world, plan))
    for frame, active, action in ((plan.deactivations, False, "deactivate"),
                                  (plan.reactivations, True, "reactivate")):
        for employee_id in frame[KEY].astype(str):
            person = people.get((c, employee_id))
            if person is None:
                raise StalePlan(c, action, len(frame), 0)
            person.active, person.updated_at = active, now
            person.deactivated_at = None if active else now
        counts[action] = len(frame)
    for employee_id in plan.deletes[KEY].astype(str):
        if people.pop((c, employee_id), None) is None:
            raise StalePlan(c, "delete", len(plan.deletes), 0)
    counts["delete"] = len(plan.deletes)
    counts["rekey"] = len(plan.rekeys)
    counts.update(_org(world, plan, fields))
    return counts


def _groups(world: _World, plan: Plan) -> dict[str, int]:
    """The plan's group changes: groups it needs are created for the connection; a
    membership someone made by hand is neither added again nor removed."""
    c = plan.connection
    counts = {"groups_created": 0, "group_add": 0, "group_remove": 0}
    for row in plan.groups.itertuples(index=False):
        key, person = (c, str(row.group)), world.people.get((c, str(row.employee_id)))
        if person is None:
            raise StalePlan(c, f"group {row.action}", len(plan.groups), 0)
        if row.action == "add" and key not in person.groups:
            if key not in world.groups:
                world.groups.add(key)
                counts["groups_created"] += 1
            person.groups[key] = c
            counts["group_add"] += 1
        elif row.action == "remove" and person.groups.get(key, "") == c:
            del person.groups[key]
            counts["group_remove"] += 1
    return counts


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _org(world: _World, plan: Plan, fields: list[str]) -> dict[str, int]:
    """Departments and job titles: the plan's own org changes, or (a bare plan) what the
    connection's people use, as the built-in store derives them.

    Like the built-in store, org units belong to the connection that made them: a plan
    creates, renames and removes only its connection's own, and never one that an active
    person of its connection still uses (after the plan's people changes).
    """
    c = plan.connection
    if plan.org_planned:
        return _planned_org(world, plan)
    touched = set(fields) if len(plan.creates) else set()
    touched |= set(plan.updates["field"].unique().tolist())
    mine = [p for (owner, _), p in world.people.items() if owner == c]
    created = titles = 0
    key = "department_code" if "department_code" in touched else (
        "department" if "department" in touched else None)
    if key is not None:
        for code in sorted({p.fields.get(key, "") for p in mine} - {""}):
            if (c, code) not in world.departments:
                users = [p for p in mine if p.fields.get(key, "") == code]
                world.departments[(c, code)] = (
                    max(p.fields.get("department", "") for p in users),
                    max(p.fields.get("parent_department_code", "") for p in users))
                created += 1
    if "job_title" in touched:
        for title in sorted({p.fields.get("job_title", "") for p in mine} - {""}):
            if (c, title) not in world.job_titles:
                world.job_titles[(c, title)] = None
                titles += 1
    return {"departments_created": created, "job_titles_created": titles}


def _planned_org(world: _World, plan: Plan) -> dict[str, int]:
    """The plan's own department and job title changes, on its connection's units."""
    c = plan.connection
    counts = dict.fromkeys(("departments_created", "departments_updated",
                            "departments_removed", "job_titles_created",
                            "job_titles_removed"), 0)
    code_field = department_key(plan.fields) or "department_code"
    active = [p for (owner, _), p in world.people.items() if p.active and owner == c]
    used = {("department", p.fields.get(code_field, "")) for p in active} | {
        ("job_title", p.fields.get("job_title", "")) for p in active}
    for row in plan.org.itertuples(index=False):
        key = (c, row.code)
        if row.kind == "department":
            if row.action == "create" and key not in world.departments:
                world.departments[key] = (row.name, row.parent_code)
                counts["departments_created"] += 1
            elif row.action == "update" and key in world.departments:
                world.departments[key] = (row.name, row.parent_code)
                counts["departments_updated"] += 1
            elif (row.action == "remove" and key in world.departments
                  and (row.kind, row.code) not in used):
                del world.departments[key]
                counts["departments_removed"] += 1
        elif row.action == "create" and key not in world.job_titles:
            world.job_titles[key] = None
            counts["job_titles_created"] += 1
        elif (row.action == "remove" and key in world.job_titles
              and (row.kind, row.code) not in used):
            del world.job_titles[key]
            counts["job_titles_removed"] += 1
    return counts
