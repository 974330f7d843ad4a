"""Validate a file against a connection's mapping without planning or recording anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from filebridge.formats import FileRejected
from filebridge.mapping import MissingColumns, check_columns
from filebridge.pipeline.context import Context
from filebridge.pipeline.importer import (
    load_import_mapping,
    map_table,
    read_table,
)
from filebridge.pipeline.layout import connection_pgp
from filebridge.pipeline.report import EXIT_OK, EXIT_REJECTED_OR_HELD, EXIT_UNUSABLE
from filebridge.problems import Problem


def validate_path(ctx: Context, connection: str, path: Path) -> dict[str, Any]:
    """Read, map and check ``path``; return rows, rejected rows and every problem."""
    mapping = load_import_mapping(ctx, connection)
    result: dict[str, Any] = {"connection": connection, "file": path.name, "rows": 0,
                              "rejected_rows": 0, "problems": [], "warnings": [],
                              "problems_dropped": 0}
    try:
        table = read_table(mapping, path, path.name, connection_pgp(ctx, connection))
        warnings = check_columns(mapping, table.columns, path.name)
    except FileRejected as exc:
        return _done(result, [p.to_dict() for p in exc.problems], unusable=True)
    except MissingColumns as exc:
        return _done(result, [Problem("missing-column", str(exc), path.name, 1).to_dict()],
                     unusable=True)
    records = map_table(ctx.target(connection).state(connection), mapping, table)
    problems = sorted([*table.problems, *records.problems.items],
                      key=lambda p: (p.line or 0, p.column or ""))
    result["rows"] = table.rows_read
    result["rejected_rows"] = int(records.rejected.sum()) + table.rows_read - len(table.frame)
    result["warnings"] = [w.to_dict() for w in warnings if w.severity == "warning"]
    result["problems_dropped"] = records.problems.dropped
    errors = [w.to_dict() for w in warnings if w.severity == "error"]
    return _done(result, errors + [p.to_dict() for p in problems], unusable=bool(errors))


def _done(result: dict[str, Any], problems: list[dict[str, Any]], unusable: bool
          ) -> dict[str, Any]:
    result["problems"] = problems
    code = EXIT_UNUSABLE if unusable else (EXIT_REJECTED_OR_HELD if result["rejected_rows"]
                                           else EXIT_OK)
    result["valid"] = code == EXIT_OK
    result["exit_code"] = code
    return result
