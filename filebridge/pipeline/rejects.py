"""The reject file: every rejected record as the source spelled it, plus the reasons.

HR fixes the rows and drops the file again. For CSV sources the records are copied from
the source byte for byte (see ``filebridge.formats.reject_file``), so a fixed file comes
back with the values exactly as the HR system wrote them and is read as a delta. XML
sources get a CSV of the mapped source values, for people to read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from filebridge.formats import CsvDialect, Table, write_csv
from filebridge.formats.layouts import REJECT_MARKER_COLUMN
from filebridge.formats.reject_file import copy_rejected_records
from filebridge.mapping import MappedRecords
from filebridge.problems import Problem


def write_rejects(target: Path, table: Table, records: MappedRecords,
                  problems: list[Problem]) -> None:
    """Write rejected rows (mapping/validation rejects and unreadable rows) to ``target``."""
    by_line: dict[int, list[str]] = {}
    for p in problems:
        if p.line is not None and p.severity == "error":
            col = f"{p.column}: " if p.column else ""
            by_line.setdefault(p.line, []).append(f"line {p.line}: {col}{p.message}")
    lines = table.lines[records.rejected]
    if table.source is not None and table.dialect is not None:
        reasons = {int(n): "; ".join(msgs) for n, msgs in by_line.items()}
        reasons.update({int(n): "; ".join(by_line.get(int(n), ["rejected"])) for n in lines})
        copy_rejected_records(table.source(), table.dialect, reasons, target)
        return
    rows = table.frame.loc[records.rejected].copy()
    rows[REJECT_MARKER_COLUMN] = ["; ".join(by_line.get(int(n), ["rejected"])) for n in lines]
    read_lines = set(table.lines.tolist())
    unread = [{REJECT_MARKER_COLUMN: "; ".join(msgs)} for n, msgs in sorted(by_line.items())
              if n not in read_lines]
    if unread:
        rows = pd.concat([rows, pd.DataFrame(unread)], ignore_index=True).fillna("")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_csv(target, rows.astype("str"), CsvDialect(), neutralize_formulas=False)
