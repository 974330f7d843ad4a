"""Property: whatever text write_csv writes, read_csv reads back, with the right lines."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from filebridge.formats import CsvDialect, read_csv, write_csv
from filebridge.formats.dialect import DELIMITERS
from filebridge.formats.table import FORBIDDEN_CHARACTERS

COLUMNS = ["id", "name", "note"]

# Arbitrary text minus what the reader rejects on purpose, with the characters that make
# CSV hard drawn often: delimiters, quotes, CR, LF, CRLF, spaces.
tricky = st.sampled_from([",", ";", "|", "\t", '"', "'", "\r", "\n", "\r\n", " ", "=", "-"])
plain = st.characters(exclude_categories=["Cs"], exclude_characters=FORBIDDEN_CHARACTERS)
values = st.lists(st.one_of(plain, tricky), max_size=12).map("".join)
dialects = st.builds(CsvDialect, delimiter=st.sampled_from(DELIMITERS),
                     encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
                     line_terminator=st.sampled_from(["\r\n", "\n", "\r"]))


def line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(values, values, values), max_size=15), dialects)
def test_write_then_read_round_trips_values_and_lines(rows: list[tuple[str, str, str]],
                                                      dialect: CsvDialect) -> None:
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype="str")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rt.csv"
        write_csv(path, frame, dialect, neutralize_formulas=False)
        table = read_csv(path, dialect)
    kept = [row for row in rows if any(row)]  # a record of empty values is a blank line
    assert table.problems == []
    assert table.columns == COLUMNS and table.rows_read == len(kept)
    assert [tuple(r) for r in table.frame.itertuples(index=False)] == kept
    expected, line = [], 2
    for row in rows:
        if any(row):
            expected.append(line)
        line += 1 + sum(line_breaks(v) for v in row)
    assert table.lines.tolist() == expected
