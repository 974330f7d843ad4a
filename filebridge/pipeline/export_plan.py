"""Plan one export: which rows, marked how, in which files under which names.

Nothing here uploads or moves a watermark. The plan is computed completely and its
files are written to the state folder before the ledger records the export as
pending, so a retry sends exactly these bytes under exactly these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from filebridge.config import load_export_mapping
from filebridge.formats import CsvDialect, XmlWriteLayout, write_csv, write_xml
from filebridge.formats.pgp import PgpKeys, encrypt_for_delivery
from filebridge.ledger.exports import ExportFile, ExportLedger
from filebridge.mapping.export import ExportMapping, export_mapping_from_dict, render_rows
from filebridge.mapping.export_names import render_name
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import NoExportMapping
from filebridge.pipeline.spool import sha256_of


@dataclass
class ExportPlan:
    """The rows of one export, the items they carry and the watermark they lead to."""

    rows: pd.DataFrame
    items: list[tuple[str, int]]
    watermark_before: int | None
    watermark_after: int | None
    counts: dict[str, int] = field(default_factory=dict)


def load_mapping_of(ctx: Context, connection: str) -> ExportMapping:
    """The connection's export mapping, validated."""
    path = ctx.connection(connection).export_mapping
    if path is None:
        raise NoExportMapping(connection=connection)
    return export_mapping_from_dict(path, load_export_mapping(path, ctx.settings.base_dir).data)


def plan_export(ctx: Context, ledger: ExportLedger, connection: str, mapping: ExportMapping,
                now: datetime, since: datetime | None = None,
                until: datetime | None = None) -> ExportPlan:
    """Rows to send: new results and amendments after the watermark, or a date range again."""
    ranged = since is not None or until is not None
    before = ledger.watermark(connection)
    records = ctx.learning(connection)
    if ranged:
        found = records.completions_for_export(connection, completed_from=since,
                                               completed_until=until)
        after = None
    else:
        found = records.completions_for_export(connection, after_revision=before)
        # Past every revision seen, sent or filtered out: filtered rows are never rescanned.
        # A source that reads back before the watermark never moves it backwards.
        after = max(before, int(found["revision"].max())) if len(found) else before
    if "item" not in found.columns:
        found["item"] = "completion:" + found["completion_id"].astype(str)
    done = _filter(found, mapping)
    filtered_out = len(found) - len(done)
    if ranged:
        done["record_type"] = "resend"
    else:
        sent = ledger.delivered_revisions(connection, done["item"].tolist())
        # A source that reads back from before the watermark (Moodle's completion times)
        # finds rows it delivered again: those are not sent twice. A row at or below the
        # watermark that was never delivered (a late one, or one sharing the watermark's
        # second) is new; anything above the watermark goes as before.
        again = pd.Series([r <= before and sent.get(i, -1) >= r
                           for i, r in zip(done["item"], done["revision"], strict=True)],
                          index=done.index, dtype=bool)
        done = done[~again].copy()
        done["record_type"] = ["amendment" if i in sent else "new" for i in done["item"]]
    overdue = _overdue(ctx, ledger, connection, mapping, now, since, until)
    items = list(zip(done["item"], done["revision"].astype(int), strict=True))
    if len(overdue):
        items += [(i, 0) for i in overdue["item"]]
    rows = pd.concat([done, overdue], ignore_index=True) if len(overdue) else done
    counts = {"rows": len(rows), "completions": int((done["record_type"] != "amendment").sum()),
              "amendments": int((done["record_type"] == "amendment").sum()),
              "overdue": len(overdue), "filtered_out": filtered_out}
    return ExportPlan(rows.reset_index(drop=True), items, None if ranged else before,
                      after, counts)


def _filter(found: pd.DataFrame, mapping: ExportMapping) -> pd.DataFrame:
    keep = pd.Series(True, index=found.index)
    if mapping.courses is not None:
        keep &= found["course_code"].isin(sorted(mapping.courses))
    if mapping.statuses is not None:
        keep &= found["status"].isin(sorted(mapping.statuses))
    out = found[keep].copy()
    out["due_at"] = pd.NaT
    return out


def _overdue(ctx: Context, ledger: ExportLedger, connection: str, mapping: ExportMapping,
             now: datetime, since: datetime | None, until: datetime | None) -> pd.DataFrame:
    if not mapping.overdue:
        return pd.DataFrame()
    found = ctx.learning(connection).overdue_assignments(connection, now, due_from=since)
    if until is not None:
        found = found[found["due_at"] < pd.Timestamp(until)]
    if mapping.courses is not None:
        found = found[found["course_code"].isin(sorted(mapping.courses))]
    found = found.copy()
    # The due date is part of the key: an assignment given a new date that passes too is
    # overdue again and sent again; the same overdue assignment is sent once.
    stamps = found["due_at"].dt.strftime("%Y%m%dT%H%M%S").astype(str)
    found["item"] = "overdue:" + found["enrollment_id"].astype(str) + ":" + stamps
    if since is None and until is None:
        sent = ledger.delivered_revisions(connection, found["item"].tolist())
        found = found[~found["item"].isin(list(sent))]
        found["record_type"] = "new"
    else:
        found["record_type"] = "resend"
    found["status"] = mapping.overdue_status
    return found.drop(columns=["enrollment_id", "assigned_at"])


def write_files(mapping: ExportMapping, plan: ExportPlan, folder: Path, connection: str,
                now: datetime, first_sequence: int, pgp: PgpKeys | None = None
                ) -> list[ExportFile]:
    """Render the rows and write them as one or more files (split by row limit) into ``folder``.

    Returns no file for an empty plan unless the mapping asks for ``send_empty``. With
    ``pgp.encrypt_to``, each file is encrypted to the HR side's key before it is hashed.
    """
    rendered = render_rows(mapping, _for_render(plan.rows, mapping))
    if rendered.empty and not mapping.send_empty:
        return []
    if rendered.empty:
        rendered = pd.DataFrame({h: pd.Series(dtype="string") for h in mapping.headers})
    size = mapping.max_rows_per_file or max(len(rendered), 1)
    chunks = [rendered.iloc[i:i + size] for i in range(0, max(len(rendered), 1), size)]
    local_now = now.astimezone(ZoneInfo(mapping.timezone))
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for part, chunk in enumerate(chunks, start=1):
        sequence = first_sequence + part - 1
        name = render_name(mapping.file_name, connection, local_now, sequence, part)
        path = folder / name
        _write(mapping, chunk, path)
        if pgp is not None and pgp.encrypt_to:
            encrypted = path.with_name(f".{name}.pgp.tmp")
            encrypted.write_bytes(encrypt_for_delivery(path.read_bytes(), pgp, name))
            encrypted.replace(path)
        sha256, size_bytes = sha256_of(path)
        files.append(ExportFile(sequence, name, str(path), sha256, size_bytes, len(chunk)))
    return files


def _for_render(rows: pd.DataFrame, mapping: ExportMapping) -> pd.DataFrame:
    """Every field a column may name exists, empty where a row has no such value."""
    out = rows.copy()
    for name in ("completion_id", "revision", "attempt", "completed_at", "score",
                 "time_spent_minutes", "recorded_at", "due_at", "record_type", "status"):
        if name not in out.columns:
            out[name] = pd.NA
    for name in ("completed_at", "recorded_at", "due_at"):
        out[name] = pd.to_datetime(out[name], utc=True)
    for name in ("completion_id", "revision", "attempt", "time_spent_minutes"):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype("Int64")
    return out


def _write(mapping: ExportMapping, frame: pd.DataFrame, path: Path) -> None:
    fmt = mapping.format
    if fmt.type == "xml":
        layout = XmlWriteLayout(fmt.xml_root, fmt.xml_record, fmt.xml_namespace)
        write_xml(path, frame, layout, encoding=fmt.encoding,
                  line_terminator=fmt.line_terminator)
        return
    dialect = CsvDialect(fmt.delimiter, fmt.quotechar, fmt.encoding, fmt.line_terminator)
    write_csv(path, frame, dialect, neutralize_formulas=mapping.neutralized)
