"""What the guard needs to know of a file's age and of earlier runs: the export's own
date (from its name or a column) and the connection's last snapshot and newest export."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd

from filebridge.formats import Table
from filebridge.mapping import Mapping
from filebridge.pipeline.context import Context
from filebridge.plan.guard import History


def export_time_of(mapping: Mapping, name: str, table: Table) -> datetime | None:
    """The export's own date from its name or a column, as the mapping says (UTC if naive)."""
    spec = mapping.export_time
    if spec is None:
        return None
    stamp: datetime | None = None
    if spec.file_name is not None:
        found = re.search(spec.file_name, name)
        if found is not None:
            text = found.group(1) if found.groups() else found.group(0)
            try:
                stamp = datetime.strptime(text, spec.format)
            except ValueError:
                stamp = None
    elif spec.column is not None and spec.column in table.frame.columns:
        values = pd.to_datetime(table.frame[spec.column], format=spec.format, errors="coerce")
        latest = values.max()
        stamp = None if pd.isna(latest) else latest.to_pydatetime()
    if stamp is not None and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything filebridge writes is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def history_of(ctx: Context, connection: str, export_time: datetime | None) -> History:
    """What the guard needs from earlier runs: last snapshot's rows, newest export time."""
    rows = None
    for run in ctx.ledger.runs(connection=connection, limit=200):
        if run.state != "applied" or run.kind not in ("import", "replay", "approve"):
            continue
        report = ctx.ledger.get_run(run.id).report or {}
        if (report.get("plan") or {}).get("file_kind") == "snapshot":
            rows = int(report.get("rows", 0))
            break
    newest = ctx.ledger.newest_applied_export(connection)
    return History(rows, _aware(newest.export_time) if newest else None,
                   newest.name if newest else None, export_time)
