"""Whether approving a held run now would put older data over newer.

A run is held, and while it waits a newer file is applied. Approving the held run then
would undo the newer changes, so approval re-runs the stale-file check against the
ledger as it is now: by the files' own export times when both are known, otherwise by
the order in which files were applied (anything applied after the run was held is newer
data). A held run that was held *because* it was stale has been judged by the person
approving it already.
"""

from __future__ import annotations

from datetime import UTC

from filebridge.ledger.ledger import FileRecord, RunRecord
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import StaleApproval
from filebridge.pipeline.planning import history_of
from filebridge.plan.guard import stale_holds

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
