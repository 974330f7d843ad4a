"""Realistic variants of the sample exports: read night 1 or 2 as rows, edit, write back."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from filebridge.pipeline.context import Context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.pipeline.report import RunReport

Row = dict[str, str]


def read_rows(path: Path) -> list[Row]:
    """The sample file's rows as dicts keyed by header."""
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def write_rows(path: Path, rows: list[Row], header: list[str] | None = None) -> Path:
    """Write rows as the HR system would (UTF-8 with BOM, CRLF)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, header or list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    return path


def variant(source: Path, target: Path, edit: Callable[[list[Row]], list[Row] | None]) -> Path:
    """``source``'s rows changed by ``edit`` (in place or returned), written to ``target``."""
    rows = read_rows(source)
    header = list(rows[0])
    result = edit(rows)
    rows = rows if result is None else result
    return write_rows(target, rows, header)


def by_id(rows: list[Row], employee_id: str) -> Row:
    """The row of one employee."""
    return next(r for r in rows if r["Employee ID"] == employee_id)


def apply(ctx: Context, path: Path, **options: object) -> RunReport:
    """Apply one file to the acme connection."""
    return run_import(ctx, "acme", path, RunOptions(mode="apply", **options))  # type: ignore[arg-type]


def plan(ctx: Context, path: Path) -> RunReport:
    """Plan one file for the acme connection (replay: a known file is planned again)."""
    return run_import(ctx, "acme", path, RunOptions(mode="plan", replay=True))


def person(ctx: Context, employee_id: str) -> dict[str, object]:
    """One stored person of acme as a dict."""
    users = ctx.store.users("acme").set_index("employee_id")
    return users.loc[employee_id].to_dict()
