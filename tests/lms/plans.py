"""Building ``Plan`` frames by hand for store tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from filebridge.plan.model import Plan

FIELDS = (
    "employee_id",
    "email",
    "first_name",
    "department_code",
    "department",
    "parent_department_code",
    "job_title",
    "manager_id",
    "custom.cost_center",
)


def person(eid: str, **values: str) -> dict[str, str]:
    """A record with every test field, blanks where not given (``custom_x`` = ``custom.x``)."""
    record = {f: "" for f in FIELDS}
    record.update({k.replace("custom_", "custom."): v for k, v in values.items()})
    record["employee_id"] = eid
    return record


def creates(
    records: Sequence[Mapping[str, str]],
    fingerprints: Sequence[int] | None = None,
    fields: Sequence[str] = FIELDS,
) -> pd.DataFrame:
    """A creates frame from records (fingerprint defaults to the row number)."""
    frame = pd.DataFrame(
        [{f: r.get(f, "") for f in fields} for r in records], columns=list(fields), dtype=object
    )
    frame["fingerprint"] = pd.array(
        fingerprints if fingerprints is not None else range(1, len(records) + 1), dtype="int64"
    )
    frame["line"] = range(2, len(records) + 2)
    return frame


def updates(rows: Sequence[tuple[str, str, str, str]]) -> pd.DataFrame:
    """An updates frame from ``(employee_id, field, old, new)`` tuples."""
    frame = pd.DataFrame(rows, columns=["employee_id", "field", "old", "new"], dtype=object)
    frame["line"] = 2
    return frame


def states(ids: Sequence[str], reason: str = "test") -> pd.DataFrame:
    """A deactivations/reactivations frame."""
    return pd.DataFrame(
        {"employee_id": pd.Series(list(ids), dtype=object), "reason": reason, "line": None}
    )


def fingerprints(pairs: Mapping[str, int]) -> pd.DataFrame:
    """A fingerprints frame from ``{employee_id: fingerprint}``."""
    return pd.DataFrame(
        {
            "employee_id": pd.Series(list(pairs), dtype=object),
            "fingerprint": pd.array(list(pairs.values()), dtype="int64"),
        }
    )


def plan(
    connection: str = "acme",
    *,
    new: Sequence[Mapping[str, str]] = (),
    fps: Sequence[int] | None = None,
    changed: Sequence[tuple[str, str, str, str]] = (),
    new_fps: Mapping[str, int] | None = None,
    leavers: Sequence[str] = (),
    returners: Sequence[str] = (),
    fields: Sequence[str] = FIELDS,
) -> Plan:
    """A plan from plain Python values."""
    return Plan(
        connection,
        "snapshot",
        tuple(fields),
        creates=creates(new, fps, fields),
        updates=updates(changed),
        fingerprints=fingerprints(new_fps or {}),
        deactivations=states(leavers),
        reactivations=states(returners),
    )
