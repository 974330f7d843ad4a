"""Column helpers against pandas' own (slower) answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from filebridge.columnar import (
    duplicated,
    first_positions,
    is_in,
    mostly_unique,
    positions_among_few,
    positions_of,
)

values = st.lists(st.sampled_from(["", "1", "01", "a", "A", "é", " 1"]), max_size=30)


@given(st.lists(st.one_of(st.none(), st.sampled_from(["", "1", "01", "a", "A", "é", " 1"])),
                max_size=30), st.integers(1, 4))
def test_duplicated_marks_every_occurrence_like_pandas(items, chunks):
    """Missing values repeat like any other; a column in chunks (the CSV reader's blocks)
    is judged as a whole."""
    series = pd.Series(items, dtype="str")
    assert duplicated(series).tolist() == series.duplicated(keep=False).tolist()
    step = max(len(items) // chunks, 1)
    parts = [pa.array(items[i:i + step], pa.large_string()) for i in range(0, len(items), step)]
    chunked = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(parts, pa.large_string())))
    assert duplicated(chunked).tolist() == series.duplicated(keep=False).tolist()


@given(values, values)
def test_positions_of_is_the_first_occurrence_or_minus_one(items, pool):
    got = positions_of(pd.Series(items, dtype="str"), pd.Series(pool, dtype="str"))
    assert got.tolist() == [pool.index(v) if v in pool else -1 for v in items]
    assert is_in(pd.Series(items, dtype="str"), pool).tolist() == [v in pool for v in items]


@given(values, values)
def test_positions_among_few_hash_the_other_side_and_agree(items, pool):
    got = positions_among_few(pa.array(items, pa.large_string()),
                              pa.array(pool, pa.large_string()))
    assert got.dtype == np.int64
    assert got.tolist() == [pool.index(v) if v in pool else -1 for v in items]


def test_mostly_unique_looks_at_the_head_only():
    ids = pd.Series([f"{i:06d}" for i in range(50_000)], dtype="str")
    codes = pd.Series(np.array(["A", "L", "T"])[np.arange(50_000) % 3], dtype="str")
    assert mostly_unique(ids)
    assert not mostly_unique(codes)
    assert not mostly_unique(pd.Series([], dtype="str"))


@given(values, values, values)
def test_one_hash_answers_several_probes(pool, a, b):
    found = first_positions(*(pd.Series(v, dtype="str") for v in (pool, a, b)))
    assert [f.tolist() for f in found] == [[pool.index(v) if v in pool else -1 for v in probe]
                                           for probe in (a, b)]
