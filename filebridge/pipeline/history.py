"""Read the ledger for people: runs with their files, one run in detail, file lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import UnknownFile
from filebridge.pipeline.spool import sha256_of, verified_spool


def run_rows(ctx: Context, connection: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest runs first, each with its file's name, for ``history``."""
    rows = []
    runs = ctx.ledger.runs(connection=connection, limit=limit)
    # Export runs have no input file; they show the files they sent instead.
    sent = ctx.ledger.exports.files_of([r.id for r in runs if r.kind == "export"])
    for run in runs:
        file = ctx.ledger.get_file(run.file_id) if run.file_id is not None else None
        rows.append({"run_id": run.id, "connection": run.connection, "kind": run.kind,
                     "mode": run.mode, "state": run.state, "started_at": run.started_at,
                     "finished_at": run.finished_at, "file_id": run.file_id,
                     "file": file.name if file else (", ".join(sent.get(run.id, [])) or None),
                     "sha256": file.sha256 if file else None, "counts": run.counts or {},
                     "files": sent.get(run.id, [])})
    return rows


def run_detail(ctx: Context, run_id: int) -> dict[str, Any]:
    """One run with its stored report (plan, problems, holds)."""
    run = ctx.ledger.get_run(run_id)
    return {"run_id": run.id, "connection": run.connection, "kind": run.kind, "mode": run.mode,
            "state": run.state, "started_at": run.started_at, "finished_at": run.finished_at,
            "file_id": run.file_id, "counts": run.counts or {}, "error": run.error,
            "report": run.report or {}, "state_location": ctx.ledger.location}


def find_file(ctx: Context, ref: str) -> tuple[str, Path, str]:
    """A ledger file by id or by a path with the same content: (connection, spool path, name)."""
    if ref.isdigit():
        record = ctx.ledger.get_file(int(ref))
        if record is None:
            raise UnknownFile(ref=ref)
        return record.connection, verified_spool(Path(record.spool_path), record.sha256), \
            record.name
    path = Path(ref)
    if not path.is_file():
        raise UnknownFile(ref=ref)
    digest, _ = sha256_of(path)
    for record in ctx.ledger.files(limit=100_000):
        if record.sha256 == digest:
            return record.connection, verified_spool(Path(record.spool_path), digest), \
                record.name
    raise UnknownFile(ref=ref)
