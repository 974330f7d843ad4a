"""Older data over newer: the checks the guard cannot make from one file alone.

Approving a held run: while it waited a newer file may have been applied, and applying
the held one then would undo the newer changes. Approval re-runs the stale-file check
against the ledger as it is now: by the files' own export times when both are known,
otherwise by the order in which files were applied (anything applied after the run was
held is newer data). A held run that was held *because* it was stale has been judged by
the person approving it already.

Content seen before: a file whose export time cannot be known (no date in its name)
with the same bytes as a file applied earlier is not simply a duplicate when other files
were applied after that: it is older data, and it is held, saying when that content was
applied and what came after.
"""

from __future__ import annotations

import re
from datetime import UTC

from filebridge.ledger.ledger import FileRecord, RunRecord
from filebridge.mapping import Mapping
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import StaleApproval
from filebridge.pipeline.staleness import history_of
from filebridge.plan.guard import Hold, stale_holds

APPLYING_KINDS = ("import", "replay", "approve")


def stale_verdict(ctx: Context, run: RunRecord, file: FileRecord) -> str | None:
    """Why applying ``run``'s file now would be stale, or None when it would not."""
    export_time = file.export_time
    if export_time is not None and export_time.tzinfo is None:
        export_time = export_time.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    history = history_of(ctx, run.connection, export_time)
    if history.export_time is not None and history.last_export_time is not None:
        holds = stale_holds(history)
        return holds[0].message if holds else None
    newer = [r for r in ctx.ledger.runs(run.connection, limit=500)
             if r.id > run.id and r.kind in APPLYING_KINDS and r.state == "applied"
             and r.file_id != file.id]
    if not newer:
        return None
    last = newer[0]
    name = ctx.ledger.get_file(last.file_id).name if last.file_id is not None else "a file"
    when = (last.finished_at or last.started_at).strftime("%Y-%m-%d %H:%M:%S")
    return (f"{name} was applied by run {last.id} at {when} UTC, after this run was held; "
            "applying this file now would undo newer changes")


def check_approvable(ctx: Context, run: RunRecord, file: FileRecord, stale_ok: bool) -> None:
    """Raise ``StaleApproval`` when approving would be stale and nobody said it may be."""
    if stale_ok:
        return
    already = any(h.get("code") == "stale-file" for h in (run.report or {}).get("holds", []))
    verdict = None if already else stale_verdict(ctx, run, file)
    if verdict is not None:
        raise StaleApproval(run.id, verdict)


def _when(run: RunRecord) -> str:
    return f"{(run.finished_at or run.started_at):%Y-%m-%d %H:%M:%S} UTC"


def repeated_content(ctx: Context, connection: str, mapping: Mapping, name: str,
                     file: FileRecord) -> Hold | None:
    """The hold for content applied before with other files applied since, when the
    file's own export time cannot be known; None for a plain duplicate (nothing since)."""
    if _export_time_from_name(mapping, name):
        return None
    applied = [r for r in ctx.ledger.runs(connection, limit=500)
               if r.kind in APPLYING_KINDS and r.state == "applied" and r.file_id is not None]
    shas = {r.id: ctx.ledger.get_file(r.file_id).sha256 for r in applied if r.file_id}
    last_same = next((r for r in applied if shas[r.id] == file.sha256), None)
    if last_same is None:
        return None
    after = [r for r in applied if r.id > last_same.id and shas[r.id] != file.sha256]
    if not after:
        return None
    first_name = ctx.ledger.get_file(int(last_same.file_id or 0)).name
    newest = after[0]
    newest_name = ctx.ledger.get_file(int(newest.file_id or 0)).name
    return Hold("repeated-content", (
        f"{name} has no export date and the same content as {first_name}, applied by run "
        f"{last_same.id} at {_when(last_same)}; {len(after)} other file(s) were applied since, "
        f"the latest {newest_name} by run {newest.id} at {_when(newest)}: applying this "
        "older content again would undo their changes"))


def _export_time_from_name(mapping: Mapping, name: str) -> bool:
    """True when the mapping dates files by a column, or this name carries the date."""
    spec = mapping.export_time
    if spec is None:
        return False
    if spec.file_name is None:
        return True  # dated by a column: the guard's stale-file check sees it
    return re.search(spec.file_name, name) is not None
