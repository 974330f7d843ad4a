"""One person's answer: who the query names, their current state, and every run that touched them.

The CLI (``filebridge person``) and the admin pages call ``person_timeline``. Only the
named connection is searched; the journal is read for this person's rows alone.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from filebridge.ledger.ledger import RunRecord
from filebridge.person import KEY
from filebridge.pipeline.context import Context

Status = Literal["found", "ambiguous", "unknown"]
Action = Literal["create", "update", "deactivate", "reactivate", "delete", "adopt", "rekey",
                 "group_add", "group_remove"]
MAX_CANDIDATES = 20


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


@dataclass(frozen=True)
class Change:
    """One change apply made to the person (one field of an update, or a whole action)."""

    action: Action
    employee_id: str
    field: str | None
    old: str | None
    new: str | None
    line: int | None  # the line in the run's file; None for a leaver absent from a snapshot
    reason: str | None  # why a deactivation, reactivation or delete was planned

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: action, employee_id, field, old, new, line, reason."""
        return {"action": self.action, "employee_id": self.employee_id, "field": self.field,
                "old": self.old, "new": self.new, "line": self.line, "reason": self.reason}


EventKind = Literal["reject", "skip", "filter", "held"]


@dataclass(frozen=True)
class RowEvent:
    """What a run did not change for the person, and why: a rejected row (problem code,
    source column, value), a skipped or filtered row (reason and rule), or a change a held
    run would have made (``code`` is the action). ``expired``: retention removed its
    values and message."""

    kind: EventKind
    code: str | None
    field: str | None
    old: str | None
    value: str | None
    line: int | None
    message: str | None
    expired: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: kind, code, field, old, value, line, message, expired."""
        return {"kind": self.kind, "code": self.code, "field": self.field, "old": self.old,
                "value": self.value, "line": self.line, "message": self.message,
                "expired": self.expired}


@dataclass(frozen=True)
class RunLink:
    """A run acting on another one: the approve or discard of a hold, the undo of a run."""

    run_id: int
    kind: str
    state: str
    at: datetime
    by: str  # host:pid of the process that ran it
    actor: str | None  # who started it (user name), when a person did

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: run_id, kind, state, at, by, actor."""
        return {"run_id": self.run_id, "kind": self.kind, "state": self.state,
                "at": _iso(self.at), "by": self.by, "actor": self.actor}


@dataclass(frozen=True)
class RunEntry:
    """One run in the person's timeline, with what it changed for them."""

    run_id: int
    at: datetime
    kind: str
    state: str
    file: str | None
    file_id: int | None
    file_kept: bool  # False when retention removed the file's stored copy
    about_run: int | None  # approve/discard: the held run; undo: the run it reversed
    acted_on_by: tuple[RunLink, ...]
    changes: tuple[Change, ...]
    actor: str | None = None  # who started the run by hand
    events: tuple[RowEvent, ...] = ()  # rejects, skips, filters, a hold's changes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: run_id, at, kind, state, file, file_id, file_kept, about_run,
        actor, acted_on_by, changes, events."""
        return {"run_id": self.run_id, "at": _iso(self.at), "kind": self.kind,
                "state": self.state, "file": self.file, "file_id": self.file_id,
                "file_kept": self.file_kept, "about_run": self.about_run, "actor": self.actor,
                "acted_on_by": [r.to_dict() for r in self.acted_on_by],
                "changes": [c.to_dict() for c in self.changes],
                "events": [e.to_dict() for e in self.events]}


@dataclass(frozen=True)
class Candidate:
    """A person the query matched, when it matched several."""

    employee_id: str
    name: str
    email: str
    active: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: employee_id, name, email, active."""
        return {"employee_id": self.employee_id, "name": self.name, "email": self.email,
                "active": self.active}


@dataclass(frozen=True)
class PersonAnswer:
    """The answer to one query: a person and their timeline, several candidates, or none."""

    connection: str
    query: str
    status: Status
    employee_id: str | None = None
    current: dict[str, Any] | None = None  # None when the LMS no longer has them
    timeline: tuple[RunEntry, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    suggestions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: connection, query, status, employee_id, current, timeline,
        candidates, suggestions, notes."""
        current = None if self.current is None else {
            k: (_iso(v) if isinstance(v, datetime) else v) for k, v in self.current.items()}
        return {"connection": self.connection, "query": self.query, "status": self.status,
                "employee_id": self.employee_id, "current": current,
                "timeline": [e.to_dict() for e in self.timeline],
                "candidates": [c.to_dict() for c in self.candidates],
                "suggestions": list(self.suggestions), "notes": list(self.notes)}


def person_timeline(ctx: Context, connection: str, query: str,
                    since: datetime | None = None) -> PersonAnswer:
    """Find the person ``query`` names in ``connection`` and read their timeline."""
    ctx.connection(connection)  # an unknown connection is an error, not "nobody"
    store = ctx.store
    ids = store.find_people(connection, query, MAX_CANDIDATES + 1)
    if not ids and ctx.ledger.has_person_events(connection, query.strip()):
        ids = [query.strip()]  # never in the LMS: e.g. a new hire whose rows were rejected
    if not ids:
        return PersonAnswer(connection, query, "unknown",
                            suggestions=near_matches(store.directory(connection, query), query))
    if len(set(ids)) > 1:
        names = store.people_names(connection, ids[:MAX_CANDIDATES])
        return PersonAnswer(connection, query, "ambiguous", candidates=tuple(
            Candidate(str(r.employee_id), f"{r.first_name} {r.last_name}".strip(),
                      str(r.email), bool(r.active)) for r in names.itertuples()))
    employee_id = ids[0]
    journal = store.journal_of(connection, [employee_id], since)
    # The ids the person had before a re-key have their events too.
    known = sorted({employee_id, *journal["employee_id"].astype(str)} if len(journal)
                   else {employee_id})
    events = ctx.ledger.person_events(connection, known, since)
    timeline, notes = _timeline(ctx, connection, journal, events)
    return PersonAnswer(connection, query, "found", employee_id=employee_id,
                        current=store.person(connection, employee_id),
                        timeline=timeline, notes=notes)


def near_matches(people: pd.DataFrame, query: str) -> tuple[str, ...]:
    """Ids, e-mails and names of ``people`` close to ``query`` (at most five)."""
    words = [*people[KEY].astype(str), *people["email"].astype(str),
             *(people["first_name"].astype(str) + " " + people["last_name"].astype(str))]
    return tuple(difflib.get_close_matches(query, [w for w in words if w.strip()], n=5,
                                           cutoff=0.6))


def _change(row: Any) -> Change:
    action: Action = "rekey" if row.action == "update" and row.field == KEY else row.action
    line = None if row.line is None or pd.isna(row.line) else int(row.line)
    field = None if action == "rekey" else _text(row.field)
    return Change(action, str(row.employee_id), field, _text(row.old), _text(row.new),
                  line, _text(row.reason))


def _event(row: Any) -> RowEvent:
    line = None if row.line is None or pd.isna(row.line) else int(row.line)
    return RowEvent(row.kind, _text(row.code), _text(row.field), _text(row.old),
                    _text(row.value), line, _text(row.message), bool(row.expired))


def _timeline(ctx: Context, connection: str, journal: pd.DataFrame, events: pd.DataFrame
              ) -> tuple[tuple[RunEntry, ...], tuple[str, ...]]:
    by_run: dict[int, list[Change]] = {}
    orphans: list[Change] = []
    for row in journal.itertuples(index=False):
        target = orphans if row.run_id is None or pd.isna(row.run_id) else by_run.setdefault(
            int(row.run_id), [])
        target.append(_change(row))
    events_by_run: dict[int, list[RowEvent]] = {}
    for row in events.itertuples(index=False):
        events_by_run.setdefault(int(row.run_id), []).append(_event(row))
    for run_id in events_by_run:
        by_run.setdefault(run_id, [])
    runs = ctx.ledger.runs_touching(connection, list(by_run))
    files = ctx.ledger.files_by_id([r.file_id for r in runs if r.file_id is not None])
    about: dict[int, list[RunRecord]] = {}
    for run in runs:
        if run.about_run is not None:
            about.setdefault(run.about_run, []).append(run)
    entries, notes = [], []
    shown = set(by_run) | {r.about_run for r in runs if r.id in by_run and r.about_run}
    for run in reversed(runs):
        if run.id not in shown:
            continue
        file = files.get(run.file_id) if run.file_id is not None else None
        kept = file is not None and Path(file.spool_path).is_file()
        if file is not None and not kept:
            notes.append(f"the file of run {run.id} ({file.name}) is no longer kept: "
                         "shown is what the ledger keeps")
        entries.append(RunEntry(
            run.id, run.started_at, run.kind, run.state, file.name if file else None,
            run.file_id, kept, run.about_run,
            tuple(RunLink(r.id, r.kind, r.state, r.started_at, r.holder, r.actor)
                  for r in about.get(run.id, [])),
            tuple(by_run.get(run.id, [])), run.actor, tuple(events_by_run.get(run.id, []))))
    missing = set(by_run) - {r.id for r in runs}
    if missing:
        notes.append(f"runs {', '.join(map(str, sorted(missing)))} are no longer in the ledger: "
                     "their changes to this person are not shown")
    expired = sum(e.expired for found in events_by_run.values() for e in found)
    if expired:
        notes.append(f"retention removed the values of {expired} rejected, skipped or held "
                     "row(s): their codes, fields and lines are kept")
    if orphans:
        notes.append(f"{len(orphans)} change(s) made outside any recorded run are not shown")
    return tuple(entries), tuple(notes)
