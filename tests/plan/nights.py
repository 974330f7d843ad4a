"""One night's file for the plan tests: source rows through a real mapping into ``make_plan``.

The mapping, validation and plan are the production ones; only the file reader is left
out (the rows are built as the reader would hand them over: text cells and line numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from filebridge.lms.interface import Lms
from filebridge.mapping import MappedRecords, apply_mapping, mapping_from_dict
from filebridge.plan.build import Planned, make_plan
from filebridge.plan.model import FileKind
from filebridge.plan.policy import Policies
from filebridge.plan.state import ActualState
from filebridge.plan.validate import validate_file

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
FILE = "hr.csv"
COLUMNS = ("id", "mail", "state", "dept", "dept_name", "parent", "title", "type")
MAPPING = mapping_from_dict(Path("mappings/c.yaml"), {"fields": {
    "employee_id": {"column": "id"},
    "email": {"column": "mail", "required": True},
    "status": {"column": "state", "map": {"A": "active", "T": "inactive"}},
    "department_code": {"column": "dept"},
    "department": {"column": "dept_name"},
    "parent_department_code": {"column": "parent"},
    "job_title": {"column": "title"},
    "employee_type": {"column": "type"},
}})

Row = tuple[str, ...]


def row(employee_id: str, mail: str | None = None, state: str = "A", dept: str = "",
        dept_name: str = "", parent: str = "", title: str = "", kind: str = "") -> Row:
    """One source row (the work email defaults to ``<id>@x.org``)."""
    email = f"{employee_id}@x.org" if mail is None else mail
    return (employee_id, email, state, dept, dept_name, parent, title, kind)


def records(rows: Sequence[Row], state: ActualState) -> MappedRecords:
    """The rows mapped and validated against ``state``, lines from 2 (after the header)."""
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS), dtype="str")
    mapped = apply_mapping(MAPPING, frame, np.arange(2, len(rows) + 2), FILE)
    validate_file(mapped, FILE, state, MAPPING.column_names())
    return mapped


def plan_file(lms: Lms, rows: Sequence[Row], kind: FileKind = "snapshot",
              policies: Policies | None = None, now: datetime = NOW,
              connection: str = "c") -> tuple[Planned, MappedRecords]:
    """Plan ``rows`` for ``connection`` against ``lms``; the records carry the row problems."""
    state = lms.state(connection)
    mapped = records(rows, state)
    return make_plan(MAPPING, mapped, FILE, kind, state, policies or Policies(), now), mapped


def night(lms: Lms, rows: Sequence[Row], kind: FileKind = "snapshot",
          policies: Policies | None = None, now: datetime = NOW,
          connection: str = "c") -> Planned:
    """Plan ``rows`` and apply the plan (there must be no file problems)."""
    planned, _ = plan_file(lms, rows, kind, policies, now, connection)
    assert planned.problems == []
    lms.apply(planned.plan, None, now)
    return planned


def people(lms: Lms, connection: str | None = "c") -> dict[str, tuple[bool, str, str, str]]:
    """id -> (active, email, department code, job title) of the connection's people."""
    users = lms.users(connection)
    return {str(r.employee_id): (bool(r.active), r.email, r.department_code, r.job_title)
            for r in users.itertuples(index=False)}
