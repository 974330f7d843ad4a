"""Read the ledger for people: runs with their files, one run in detail, file lookup."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from filebridge.ledger.ledger import APPLYING
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import UnknownFile
from filebridge.pipeline.spool import sha256_of, spool_of


@dataclass(frozen=True)
class RunRow:
    """One run as ``history`` lists it (``files``: the names an export run sent)."""

    run_id: int
    connection: str
    kind: str
    mode: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    file_id: int | None
    file: str | None
    sha256: str | None
    counts: dict[str, Any]
    files: list[str]
    actor: str | None  # who started it by hand (approve, discard, undo, replay)
    # A run still applying, or stopped while applying: how many people the connection
    # managed when it began changing the LMS (None for every other run).
    managed_when_applying: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return asdict(self)


@dataclass(frozen=True)
class RunDetail:
    """One run as ``show`` prints it: the ledger's row and the report stored with it.

    ``report`` and ``error`` are the JSON documents the run stored when it finished.
    """

    run_id: int
    connection: str
    kind: str
    mode: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    file_id: int | None
    counts: dict[str, Any]
    error: dict[str, Any] | None
    report: dict[str, Any]
    state_location: str
    managed_when_applying: int | None = None  # as in ``RunRow``

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return asdict(self)


def split_counts(counts: dict[str, Any] | None) -> tuple[dict[str, Any], int | None]:
    """A run's counts of changes, and apart from them the note an import keeps in its
    counts while it applies: how many people the connection managed when it began
    changing the LMS (a run that stopped there keeps it, and its rerun is judged by it)."""
    changes = dict(counts or {})
    managed = changes.pop(APPLYING, None)
    return changes, managed if isinstance(managed, int) else None


def run_rows(ctx: Context, connection: str | None, limit: int) -> list[RunRow]:
    """Newest runs first, each with its file's name, for ``history``."""
    rows = []
    runs = ctx.ledger.runs(connection=connection, limit=limit)
    # Export runs have no input file; they show the files they sent instead.
    sent = ctx.ledger.exports.files_of([r.id for r in runs if r.kind == "export"])
    for run in runs:
        file = ctx.ledger.get_file(run.file_id) if run.file_id is not None else None
        counts, managed = split_counts(run.counts)
        rows.append(RunRow(
            run.id, run.connection, run.kind, run.mode, run.state, run.started_at,
            run.finished_at, run.file_id,
            file.name if file else (", ".join(sent.get(run.id, [])) or None),
            file.sha256 if file else None, counts, list(sent.get(run.id, [])),
            run.actor, managed))
    return rows


def run_detail(ctx: Context, run_id: int) -> RunDetail:
    """One run with its stored report (plan, problems, holds)."""
    run = ctx.ledger.get_run(run_id)
    counts, managed = split_counts(run.counts)
    return RunDetail(run.id, run.connection, run.kind, run.mode, run.state, run.started_at,
                     run.finished_at, run.file_id, counts, run.error,
                     run.report or {}, ctx.ledger.location, managed)


def find_file(ctx: Context, ref: str) -> tuple[str, Path, str]:
    """A ledger file by id or by a path with the same content: (connection, spool path, name)."""
    if ref.isdigit():
        record = ctx.ledger.get_file(int(ref))
        if record is None:
            raise UnknownFile(ref=ref)
        return record.connection, spool_of(record), record.name
    path = Path(ref)
    if not path.is_file():
        raise UnknownFile(ref=ref)
    digest, _ = sha256_of(path)
    for record in ctx.ledger.files(limit=100_000):
        if record.sha256 == digest:
            return record.connection, spool_of(record), record.name
    raise UnknownFile(ref=ref)
