"""Nights with group rules: rows through a real mapping with ``groups`` into ``make_plan``.

Also a plain reference of the rules, one person at a time in Python, that the
column-wise evaluation must agree with.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from filebridge.lms.interface import Lms
from filebridge.mapping import Mapping, apply_mapping, mapping_from_dict
from filebridge.mapping.groups import Condition, GroupRule
from filebridge.plan.build import Planned, make_plan
from filebridge.plan.model import FileKind
from filebridge.plan.policy import Policies
from filebridge.plan.validate import validate_file

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
FILE = "hr.csv"
COLUMNS = ("id", "mail", "state", "dept", "country", "type", "boss")
FIELDS = {
    "employee_id": {"column": "id"},
    "email": {"column": "mail", "required": True},
    "status": {"column": "state", "map": {"A": "active", "T": "inactive"}},
    "department": {"column": "dept"},
    "country": {"column": "country"},
    "employee_type": {"column": "type"},
    "manager_id": {"column": "boss"},
}
RULES: list[dict[str, Any]] = [
    {"name": "Sales DACH", "when": {"all": [{"field": "department", "is": "Sales"},
                                            {"field": "country", "in": ["DE", "AT"]}]}},
    {"name": "Contractors", "when": {"field": "employee_type", "is": "contractor"}},
    {"name": "Staff outside DE", "when": {"all": [
        {"not": {"field": "employee_type", "is": "contractor"}},
        {"any": [{"field": "country", "is": "AT"}, {"field": "country", "is": "CH"}]}]}},
    {"group_from": "department", "name": "Dept {value}"},
    {"name": "Team E1", "reports_to": "E1"},
]

Row = tuple[str, ...]


def mapping(rules: Sequence[dict[str, Any]] = tuple(RULES)) -> Mapping:
    """The test mapping with these group rules."""
    return mapping_from_dict(Path("mappings/c.yaml"), {"fields": FIELDS, "groups": list(rules)})


def row(employee_id: str, state: str = "A", dept: str = "", country: str = "",
        kind: str = "", boss: str = "") -> Row:
    """One source row (the work email is ``<id>@x.org``)."""
    return (employee_id, f"{employee_id}@x.org", state, dept, country, kind, boss)


def plan_file(lms: Lms, rows: Sequence[Row], rules: Sequence[dict[str, Any]] = tuple(RULES),
              kind: FileKind = "snapshot", connection: str = "c") -> Planned:
    """Plan ``rows`` with ``rules`` for ``connection`` against ``lms``."""
    m = mapping(rules)
    state = lms.state(connection)
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS), dtype="str")
    mapped = apply_mapping(m, frame, np.arange(2, len(rows) + 2), FILE)
    validate_file(mapped, FILE, state, m.column_names())
    return make_plan(m, mapped, FILE, kind, state, Policies(), NOW)


def night(lms: Lms, rows: Sequence[Row], rules: Sequence[dict[str, Any]] = tuple(RULES),
          kind: FileKind = "snapshot", connection: str = "c") -> Planned:
    """Plan ``rows`` and apply the plan."""
    planned = plan_file(lms, rows, rules, kind, connection)
    assert planned.problems == []
    lms.apply(planned.plan, None, NOW)
    return planned


def _holds(cond: Condition, person: dict[str, str]) -> bool:
    if cond.op == "is":
        return person.get(cond.field, "") == cond.values[0]
    if cond.op == "in":
        return person.get(cond.field, "") in cond.values
    if cond.op == "not":
        return not _holds(cond.operands[0], person)
    results = [_holds(o, person) for o in cond.operands]
    return all(results) if cond.op == "all" else any(results)


def expected_groups(rules: Sequence[GroupRule], people: dict[str, dict[str, str]]
                    ) -> dict[str, set[str]]:
    """Employee id → the groups the rules give them, one person at a time (active only)."""
    out: dict[str, set[str]] = {}
    for eid, person in people.items():
        mine: set[str] = set()
        if person.get("status") == "inactive":
            out[eid] = mine
            continue
        for rule in rules:
            if rule.when is not None and not _holds(rule.when, person):
                continue
            if rule.kind == "static":
                mine.add(rule.name)
            elif rule.kind == "field" and person.get(rule.field, ""):
                mine.add(rule.group_name(person[rule.field]))
            elif rule.kind == "reports_to" and _reports_to(eid, rule.manager, people):
                mine.add(rule.name)
        out[eid] = mine
    return out


def _reports_to(eid: str, manager: str, people: dict[str, dict[str, str]]) -> bool:
    seen: set[str] = set()
    boss = people[eid].get("manager_id", "")
    while boss and boss not in seen:
        if boss == manager:
            return True
        seen.add(boss)
        boss = people.get(boss, {}).get("manager_id", "")
    return False
