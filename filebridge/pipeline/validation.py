"""Validate a file against a connection's mapping without planning or recording anything."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class ValidationReport:
    """Rows read, rows rejected and every problem of one file checked against a mapping."""

    connection: str
    file: str
    rows: int = 0
    rejected_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    problems_dropped: int = 0
    unusable: bool = False  # the file as a whole cannot be read or mapped

    @property
    def exit_code(self) -> int:
        """0 valid, 1 rows rejected, 2 the file is unusable."""
        if self.unusable:
            return EXIT_UNUSABLE
        return EXIT_REJECTED_OR_HELD if self.rejected_rows else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (documented in README)."""
        return {"connection": self.connection, "file": self.file, "rows": self.rows,
                "rejected_rows": self.rejected_rows,
                "problems": [p.to_dict() for p in self.problems],
                "warnings": [p.to_dict() for p in self.warnings],
                "problems_dropped": self.problems_dropped, "valid": self.exit_code == EXIT_OK,
                "exit_code": self.exit_code}


def validate_path(ctx: Context, connection: str, path: Path) -> ValidationReport:
    """Read, map and check ``path``; return rows, rejected rows and every problem."""
    mapping = load_import_mapping(ctx, connection)
    report = ValidationReport(connection, path.name)
    try:
        table = read_table(mapping, path, path.name, connection_pgp(ctx, connection))
        warnings = check_columns(mapping, table.columns, path.name)
    except FileRejected as exc:
        report.problems, report.unusable = list(exc.problems), True
        return report
    except MissingColumns as exc:
        report.problems = [Problem("missing-column", str(exc), path.name, 1)]
        report.unusable = True
        return report
    records = map_table(ctx.target(connection).state(connection), mapping, table)
    problems = sorted([*table.problems, *records.problems.items],
                      key=lambda p: (p.line or 0, p.column or ""))
    report.rows = table.rows_read
    report.rejected_rows = int(records.rejected.sum()) + table.rows_read - len(table.frame)
    report.warnings = [w for w in warnings if w.severity == "warning"]
    report.problems_dropped = records.problems.dropped
    errors = [w for w in warnings if w.severity == "error"]
    report.problems = errors + problems
    report.unusable = bool(errors)
    return report
