"""Column kernels over Arrow: membership, positions, duplicates and text columns.

Whole-column operations that mapping, plan and the stores share; each is one Arrow
hash or scan, never a Python loop per row.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def is_in(values: pd.Series, pool: Collection[str] | pd.Series) -> np.ndarray:
    """Boolean mask: which ``values`` are in ``pool`` (a hash set in Arrow, no Python loop)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    pool_array = pa.array(pool if isinstance(pool, pd.Series) else list(pool), type=pa.string())
    mask = pc.is_in(pa.array(values, type=pa.string()), value_set=pool_array)
    return mask.to_numpy(zero_copy_only=False)


def positions_of(values: pd.Series, pool: pd.Series) -> np.ndarray:
    """Position of each value in ``pool`` (its first occurrence), -1 where it is absent."""
    return first_positions(pool, values)[0]


def positions_among_few(values: pa.Array, pool: pa.Array) -> np.ndarray:
    """``positions_of`` for a few distinct ``values`` in a big ``pool``: the hash table is
    built on the values and the pool only probes it.

    Building Arrow's table costs several times probing it (a million ids: about 0.3 s
    to build, 0.03 s to probe against ten thousand), so a handful of managers or the
    memberships of the people who changed never hash the whole file into a table.
    """
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    codes = pc.index_in(pool, value_set=encoded.dictionary)
    codes = codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.flatnonzero(codes >= 0)
    # np.unique's index is each value's first occurrence, so the first row of a repeated
    # id wins, as in positions_of.
    found, at = np.unique(codes[rows], return_index=True)
    first = np.full(len(encoded.dictionary), -1, dtype=np.int64)
    first[found] = rows[at]
    return first[encoded.indices.to_numpy(zero_copy_only=False)]


def first_positions(pool: pd.Series, *probes: pd.Series) -> list[np.ndarray]:
    """``positions_of(probe, pool)`` for each probe, from a single hash of ``pool``.

    Arrow builds its hash table per call; probing several columns against the same
    million ids in one call builds it once.
    """
    sizes = [len(p) for p in probes]
    if not sum(sizes):
        return [np.zeros(0, dtype=np.int64) for _ in probes]
    # The probes' chunks joined in one copy (index_in is slow on chunks); when the pool
    # is the first probe (ids against themselves) its part of that copy is the value set.
    views = [pa.array(p.astype("str"), pa.large_string()) for p in probes]
    parts = [c for v in views for c in (v.chunks if isinstance(v, pa.ChunkedArray) else [v])]
    joined = pa.chunked_array(parts, pa.large_string()).combine_chunks()
    del views, parts
    same = pool is probes[0] or pool.array is probes[0].array
    value_set = joined.slice(0, sizes[0]) if same else arrow_text(pool)
    found = pc.index_in(joined, value_set=value_set)
    flat = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.split(flat, np.cumsum(sizes)[:-1])


def arrow_text(values: pd.Series) -> pa.Array:
    """A text column as one contiguous Arrow large-string array.

    pandas' str columns are Arrow already (no copy then), but often in chunks (the CSV
    reader's blocks); several kernels (index_in above all) work chunk by chunk on a
    chunked array, several times slower, so the chunks are joined once here.
    """
    array = pa.array(values.astype("str"), pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def duplicated(values: pd.Series) -> np.ndarray:
    """Boolean mask of values that occur more than once (every occurrence, like keep=False).

    Equal values are neighbours once sorted: one Arrow sort of the column and one
    comparison of each value with the next. Hashing instead (a dictionary of every
    distinct value) holds a second copy of a million distinct emails plus the hash
    table, about twice the memory, and was no faster.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    array = pa.array(values.astype("str"), pa.large_string())
    order = pc.sort_indices(array)  # nulls last, side by side: missing equals missing
    ordered = array.take(order)
    ordered = ordered.combine_chunks() if isinstance(ordered, pa.ChunkedArray) else ordered
    head, tail = ordered.slice(0, len(ordered) - 1), ordered.slice(1)
    same = pc.or_(pc.equal(head, tail).fill_null(False),
                  pc.and_(pc.is_null(head), pc.is_null(tail)))
    repeats = same.to_numpy(zero_copy_only=False)
    in_order = np.zeros(len(ordered), dtype=bool)
    in_order[1:] = repeats
    in_order[:-1] |= repeats
    out = np.empty(len(ordered), dtype=bool)
    out[order.to_numpy()] = in_order
    return out


# Rows looked at to guess whether a column repeats itself before hashing all of it.
PROBE_ROWS = 20_000


def mostly_unique(values: pd.Series) -> bool:
    """Whether the first rows are mostly distinct (ids, emails, phone numbers).

    A guess that spares hashing a million distinct values only to find them distinct;
    a wrong guess costs time, never correctness (callers give the same result either way).
    """
    head = values.iloc[:PROBE_ROWS]
    return head.nunique() * 2 > len(head)
