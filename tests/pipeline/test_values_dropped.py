"""After mapping, a CSV run lets the source's values go; what it reports stays the same."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from filebridge.pipeline.context import Context
from filebridge.pipeline.importer import (
    load_import_mapping,
    map_table,
    read_table,
    values_dropped,
)
from filebridge.pipeline.rejects import write_rejects
from tests.pipeline.conftest import NIGHT1, XML1


def test_a_csv_table_drops_its_values_and_writes_the_same_reject_file(ctx: Context,
                                                                      tmp_path: Path) -> None:
    """The frame read from the file is freed (nothing else holds it), the row count and
    lines stay, and the reject file, copied from the source bytes, is byte for byte the
    one the full table writes."""
    mapping = load_import_mapping(ctx, "acme")
    table = read_table(mapping, NIGHT1, NIGHT1.name)
    records = map_table(ctx.target("acme").state("acme"), mapping, table)
    assert records.rejected.any()
    problems = [*table.problems, *records.problems.items]
    write_rejects(tmp_path / "full.csv", table, records, problems)
    rows, lines = len(table.frame), table.lines.copy()
    frame = weakref.ref(table.frame)
    table = values_dropped(table)
    gc.collect()
    assert frame() is None
    assert table.frame.columns.empty and len(table.frame) == rows
    assert (table.lines == lines).all()
    write_rejects(tmp_path / "dropped.csv", table, records, problems)
    assert (tmp_path / "dropped.csv").read_bytes() == (tmp_path / "full.csv").read_bytes()


def test_a_table_without_source_bytes_keeps_its_values(ctx: Context) -> None:
    """An XML source's reject file shows the values from the frame, so they stay."""
    table = read_table(load_import_mapping(ctx, "acme-xml"), XML1, XML1.name)
    assert table.source is None and len(table.frame.columns)
    assert values_dropped(table) is table
