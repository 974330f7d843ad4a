"""Column-wise steps of a mapping: transforms, value maps, dates, emails, templates.

Each function takes a pandas string Series and returns a Series (plus, where a value
can be wrong, a boolean mask of bad rows). No Python loop per row.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.mapping.spec import FieldSpec, Transform

# Deliberately ASCII-only: look-alike letters (Cyrillic "а", fullwidth "＠") must not pass
# as a different person's address. A mapping can still store them in custom fields.
EMAIL_PATTERN = (
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


# The string holds the whitespace characters themselves (Python resolves these escapes),
# not regex \s or \u escapes: either would send pandas to Python's re module row by row
# instead of RE2, about ten times slower on a million rows.
WHITESPACE_RUN = "[ \t\r\n\x0b\x0c\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"


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


def first_positions(pool: pd.Series, *probes: pd.Series) -> list[np.ndarray]:
    """``positions_of(probe, pool)`` for each probe, from a single hash of ``pool``.

    Arrow builds its hash table per call; probing several columns against the same
    million ids in one call builds it once.
    """
    sizes = [len(p) for p in probes]
    if not sum(sizes):
        return [np.zeros(0, dtype=np.int64) for _ in probes]
    arrays = [arrow_text(p) for p in probes]
    joined = arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
    found = pc.index_in(joined, value_set=arrow_text(pool))
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


def duplicated_from_first(first: np.ndarray) -> np.ndarray:
    """Duplicates (every occurrence) from each value's first position in its own column."""
    later = first != np.arange(len(first))
    out = later.copy()
    out[first[later]] = True
    return out


def duplicated(values: pd.Series) -> np.ndarray:
    """Boolean mask of values that occur more than once (every occurrence, like keep=False)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    # One Arrow hash pass and a count per distinct value: pandas' duplicated() on Arrow
    # strings is about twice as slow on a million ids.
    encoded = pc.dictionary_encode(arrow_text(values), null_encoding="encode")
    codes = encoded.indices.to_numpy()
    return np.bincount(codes, minlength=len(encoded.dictionary))[codes] > 1


# Rows looked at to guess whether a column repeats itself before hashing all of it.
PROBE_ROWS = 20_000


def mostly_unique(values: pd.Series) -> bool:
    """Whether the first rows are mostly distinct (ids, emails, phone numbers).

    A guess that spares hashing a million distinct values only to find them distinct;
    a wrong guess costs time, never correctness (callers give the same result either way).
    """
    head = values.iloc[:PROBE_ROWS]
    return head.nunique() * 2 > len(head)


def apply_transforms(values: pd.Series, transforms: tuple[Transform, ...]) -> pd.Series:
    """Run a field's transform chain over a whole column."""
    for t in transforms:
        if t.kind == "trim":
            values = values.str.strip()
        elif t.kind == "lower":
            values = values.str.lower()
        elif t.kind == "upper":
            values = values.str.upper()
        elif t.kind == "collapse_spaces":
            values = values.str.replace(WHITESPACE_RUN, " ", regex=True).str.strip()
        elif t.kind == "regex_replace":
            values = values.str.replace(t.pattern, t.replacement, regex=True)
    return values


def apply_value_map(values: pd.Series, spec: FieldSpec) -> tuple[pd.Series, pd.Series]:
    """Map codes to values; returns the mapped column and the mask of unmapped non-blanks."""
    table = dict(spec.value_map)
    mapped = values.map(table)
    blank = values == ""
    unmapped = mapped.isna() & ~blank
    fallback = spec.map_default if spec.map_default is not None else ""
    result = mapped.where(~mapped.isna(), fallback).astype("str")
    result = result.where(~blank, "")
    bad = unmapped if spec.map_default is None else pd.Series(False, index=values.index)
    return result, bad


def parse_dates(values: pd.Series, formats: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """Parse with the declared formats only, first match wins; ISO ``YYYY-MM-DD`` out."""
    result = pd.Series("", index=values.index, dtype="str")
    todo = values != ""
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(values[todo], format=fmt, errors="coerce")
        ok = parsed.notna()
        hit = ok[ok].index
        result.loc[hit] = parsed[ok].dt.strftime("%Y-%m-%d")
        todo.loc[hit] = False
    return result, todo


def canonical_emails(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Trim, NFC-normalise and lower-case addresses; mask the invalid or non-ASCII ones."""
    stripped = values.str.strip()
    ascii_only = pc.all(pc.string_is_ascii(pa.array(stripped, type=pa.string()))).as_py()
    if ascii_only is False:
        stripped = stripped.map(lambda v: unicodedata.normalize("NFC", v))
    canon = stripped.str.lower()
    bad = (canon != "") & ~canon.str.fullmatch(EMAIL_PATTERN)
    return canon, bad.fillna(True).astype(bool)


def render_template(template: str, columns: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """Fill ``"{first_name} {last_name}"`` column-wise from already mapped fields."""
    out = pd.Series("", index=index, dtype="str")
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            out = out + literal
        if name:
            out = out + columns[name]
    return out.str.strip()


def not_allowed(values: pd.Series, allowed: tuple[str, ...]) -> pd.Series:
    """Mask of non-blank values outside the allowed list."""
    return (values != "") & ~pd.Series(is_in(values, allowed), index=values.index)


def first_true(mask: pd.Series, limit: int) -> np.ndarray:
    """Positions of the first ``limit`` True values (to build capped problem lists)."""
    return np.flatnonzero(mask.to_numpy())[:limit]
