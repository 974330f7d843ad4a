"""What one file would do to one person, and why, without changing anything.

The file is read, mapped, validated and planned by the same functions an import uses
(nothing is spooled or recorded); the person's rows are then mapped once more with a
trace, so each field shows its raw cell, every step of the mapping, and the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from filebridge.formats import FileRejected
from filebridge.mapping import MappedRecords, Mapping, MissingColumns, apply_mapping, check_columns
from filebridge.mapping.apply import Trace
from filebridge.person import KEY
from filebridge.pipeline.context import Context
from filebridge.pipeline.importer import (
    file_holds,
    load_import_mapping,
    map_table,
    plan_records,
    read_table,
)
from filebridge.pipeline.layout import connection_pgp
from filebridge.pipeline.person import MAX_CANDIDATES, Candidate, Status, near_matches
from filebridge.pipeline.staleness import export_time_of
from filebridge.plan import Plan
from filebridge.plan.guard import Hold
from filebridge.problems import Problem

OutcomeAction = Literal["create", "update", "deactivate", "reactivate", "delete", "rekey",
                        "skip", "filter", "reject", "unchanged", "absent", "file-rejected"]


@dataclass(frozen=True)
class Step:
    """One step of a field's mapping and the value after it."""

    step: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: step, value."""
        return {"step": self.step, "value": self.value}


@dataclass(frozen=True)
class FieldTrace:
    """One canonical field of a row: its source column, the steps, the canonical value."""

    field: str
    column: str | None  # None for a constant or a template
    steps: tuple[Step, ...]
    value: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: field, column, steps, value."""
        return {"field": self.field, "column": self.column,
                "steps": [s.to_dict() for s in self.steps], "value": self.value}


@dataclass(frozen=True)
class RowTrace:
    """One row of the file that belongs to the person."""

    line: int
    fields: tuple[FieldTrace, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: line, fields."""
        return {"line": self.line, "fields": [f.to_dict() for f in self.fields]}


@dataclass(frozen=True)
class Outcome:
    """What the file would do to the person: one planned change, skip, filter or reject."""

    action: OutcomeAction
    line: int | None = None
    field: str | None = None
    old: str | None = None
    new: str | None = None
    reason: str | None = None  # deactivate/reactivate/delete/skip/filter: why
    code: str | None = None  # reject: the problem code
    column: str | None = None
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: action, line, field, old, new, reason, code, column, value."""
        return {"action": self.action, "line": self.line, "field": self.field,
                "old": self.old, "new": self.new, "reason": self.reason, "code": self.code,
                "column": self.column, "value": self.value}


@dataclass(frozen=True)
class FileAnswer:
    """The answer to ``person --file``: the person's rows traced and their outcomes."""

    connection: str
    query: str
    file: str
    status: Status
    employee_id: str | None = None
    file_kind: str | None = None
    rows: tuple[RowTrace, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    suggestions: tuple[str, ...] = ()
    # The guard's verdict on the whole file: True when an import would hold it (None when
    # the file would be rejected, or it was not judged), and every hold or flag it raises.
    held: bool | None = None
    holds: tuple[Hold, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: connection, query, file, status, employee_id, file_kind, held,
        holds, rows, outcomes, candidates, suggestions."""
        return {"connection": self.connection, "query": self.query, "file": self.file,
                "status": self.status, "employee_id": self.employee_id,
                "file_kind": self.file_kind, "held": self.held,
                "holds": [h.to_dict() for h in self.holds],
                "rows": [r.to_dict() for r in self.rows],
                "outcomes": [o.to_dict() for o in self.outcomes],
                "candidates": [c.to_dict() for c in self.candidates],
                "suggestions": list(self.suggestions)}


def explain_file(ctx: Context, connection: str, query: str, path: Path,
                 now: datetime | None = None) -> FileAnswer:
    """What ``path`` would do to the person ``query`` names in ``connection``, and why."""
    ctx.connection(connection)
    mapping = load_import_mapping(ctx, connection)
    name = path.name
    base = FileAnswer(connection, query, name, "unknown")
    try:
        table = read_table(mapping, path, name, connection_pgp(ctx, connection))
        check_columns(mapping, table.columns, name)
    except FileRejected as exc:
        return _whole_file_rejected(ctx, base, list(exc.problems))
    except MissingColumns as exc:
        return _whole_file_rejected(ctx, base, [Problem("missing-column", str(exc), name, 1)])
    state = ctx.target(connection).state(connection)
    records = map_table(state, mapping, table)
    planned = plan_records(ctx, connection, mapping, table, records, name, state,
                           now or datetime.now(UTC))
    found = _resolve(ctx, base, records)
    if found.status != "found" or found.employee_id is None:
        return found
    who = found.employee_id
    rows = np.flatnonzero((records.frame[KEY] == who).to_numpy())
    lines = [int(records.frame["line"].iat[i]) for i in rows]
    traces, row_problems = _trace_rows(mapping, table.frame.iloc[rows], records, rows, name)
    problems = [*row_problems, *planned.problems, *records.problems.items,
                *(p for p in table.problems if p.value and who in _tokens(p.value))]
    outcomes = [*_rejects(problems, lines), *_planned(planned.plan, who)]
    if not outcomes:
        outcomes = [Outcome("unchanged", lines[0]) if lines else Outcome(
            "absent", reason="not in this file, and the file changes nothing for them")]
    held: bool | None = None
    holds: tuple[Hold, ...] = ()
    if not planned.problems:  # a file with whole-file problems is rejected, not judged
        holds = tuple(file_holds(ctx, connection, table, records, planned.plan,
                                 planned.managed, export_time_of(mapping, name, table)))
        held = any(h.reaction == "hold" for h in holds)
    return FileAnswer(connection, query, name, "found", who, planned.plan.file_kind,
                      tuple(traces), tuple(outcomes), held=held, holds=holds)


def _whole_file_rejected(ctx: Context, base: FileAnswer, problems: list[Problem]
                         ) -> FileAnswer:
    found = _resolve(ctx, base, None)
    if found.status != "found":
        return found
    return FileAnswer(base.connection, base.query, base.file, "found", found.employee_id,
                      outcomes=tuple(Outcome("file-rejected", p.line, code=p.code,
                                             column=p.column, value=p.value, reason=p.message)
                                     for p in problems))


def _resolve(ctx: Context, base: FileAnswer, records: MappedRecords | None) -> FileAnswer:
    """The person the query names: in the store (as ``person`` finds them), else a row
    of the file by employee id or work e-mail (a new hire the LMS does not know yet)."""
    store = ctx.store
    ids = store.find_people(base.connection, base.query, MAX_CANDIDATES + 1)
    if len(set(ids)) == 1:
        return _with(base, "found", employee_id=ids[0])
    if ids:
        names = store.people_names(base.connection, ids[:MAX_CANDIDATES])
        return _with(base, "ambiguous", candidates=tuple(
            Candidate(str(r.employee_id), f"{r.first_name} {r.last_name}".strip(),
                      str(r.email), bool(r.active)) for r in names.itertuples()))
    text = base.query.strip()
    if records is not None and text:
        frame = records.frame
        hit = frame[KEY] == text
        if not hit.any() and "email" in frame:
            hit = frame["email"].str.lower() == text.lower()
        found = sorted(set(frame.loc[hit, KEY]) - {""})
        if len(found) == 1:
            return _with(base, "found", employee_id=found[0])
    return _with(base, "unknown", suggestions=near_matches(
        store.directory(base.connection, base.query), base.query))


def _with(base: FileAnswer, status: Status, **values: Any) -> FileAnswer:
    return FileAnswer(base.connection, base.query, base.file, status, **values)


def _trace_rows(mapping: Mapping, frame: pd.DataFrame, records: MappedRecords,
                rows: np.ndarray, file: str) -> tuple[list[RowTrace], list[Problem]]:
    """Map the person's rows again, one at a time, recording every step of every field."""
    traces, problems = [], []
    columns = {f.name: f.source for f in mapping.fields}
    for position, row in zip(rows, range(len(frame)), strict=True):
        steps: dict[str, list[Step]] = {}
        note = _recorder(steps)
        line = int(records.frame["line"].iat[position])
        one = apply_mapping(mapping, frame.iloc[[row]], np.array([line]), file, trace=note)
        problems += one.problems.items
        # The canonical value is the whole-file mapping's (validation may have changed it,
        # e.g. a manager named by e-mail resolved to an id).
        traces.append(RowTrace(line, tuple(
            FieldTrace(name, columns.get(name), tuple(steps.get(name, ())),
                       str(records.frame[name].iat[position]))
            for name in mapping.names)))
    return traces, problems


def _recorder(steps: dict[str, list[Step]]) -> Trace:
    def note(field: str, step: str, values: pd.Series) -> None:
        steps.setdefault(field, []).append(Step(step, str(values.iat[0])))
    return note


def _tokens(raw: str) -> set[str]:
    for sep in ";|\t":
        raw = raw.replace(sep, ",")
    return {t.strip().strip('"') for t in raw.split(",")}


def _rejects(problems: list[Problem], lines: list[int]) -> list[Outcome]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in problems:
        key = (p.line, p.code, p.column)
        if p.severity != "error" or p.line is None or p.line not in lines or key in seen:
            continue
        seen.add(key)
        out.append(Outcome("reject", p.line, code=p.code, column=p.column, value=p.value,
                           reason=p.message))
    return out


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(
        value)


def _line(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _planned(plan: Plan, who: str) -> list[Outcome]:
    out = []
    for row in plan.rekeys.loc[plan.rekeys[KEY] == who].itertuples(index=False):
        out.append(Outcome("rekey", _line(row.line), old=str(row.old_employee_id), new=who))
    for row in plan.creates.loc[plan.creates[KEY] == who].itertuples(index=False):
        out.append(Outcome("create", _line(row.line)))
    mine = plan.updates.loc[plan.updates[KEY] == who].sort_values("field", kind="stable")
    for row in mine.itertuples(index=False):
        out.append(Outcome("update", _line(row.line), field=str(row.field),
                           old=_text(row.old), new=_text(row.new)))
    states: tuple[tuple[OutcomeAction, pd.DataFrame], ...] = (
        ("deactivate", plan.deactivations), ("reactivate", plan.reactivations),
        ("delete", plan.deletes))
    for action, frame in states:
        for row in frame.loc[frame[KEY] == who].itertuples(index=False):
            out.append(Outcome(action, _line(row.line), reason=_text(row.reason)))
    for row in plan.skipped.loc[plan.skipped[KEY] == who].itertuples(index=False):
        skip: OutcomeAction = "filter" if row.reason == "filtered-out" else "skip"
        out.append(Outcome(skip, _line(row.line), reason=_text(row.message),
                           code=_text(row.reason)))
    return out
