"""The reject file: the original columns of every rejected row plus an ``error`` column.

HR can fix the rows in a spreadsheet and drop the file again. Cells are written
formula-safe because this file is opened in Excel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from filebridge.formats import CsvDialect, Table, write_csv
from filebridge.mapping import MappedRecords


def write_rejects(target: Path, table: Table, records: MappedRecords,
                  problems: list[dict[str, Any]]) -> None:
    """Write rejected rows (mapping/validation rejects and unreadable rows) to ``target``."""
    by_line: dict[int, list[str]] = {}
    for p in problems:
        if p.get("line") is not None and p.get("severity", "error") == "error":
            col = f"{p['column']}: " if p.get("column") else ""
            by_line.setdefault(int(p["line"]), []).append(f"line {p['line']}: {col}{p['message']}")
    rows = table.frame.loc[records.rejected].copy()
    lines = table.lines[records.rejected]
    rows["error"] = ["; ".join(by_line.get(int(n), ["rejected"])) for n in lines]
    read_lines = set(table.lines.tolist())
    unread = [{"error": "; ".join(msgs)} for n, msgs in sorted(by_line.items())
              if n not in read_lines]
    if unread:
        rows = pd.concat([rows, pd.DataFrame(unread)], ignore_index=True).fillna("")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_csv(target, rows.astype("str"), CsvDialect(), neutralize_formulas=True)
