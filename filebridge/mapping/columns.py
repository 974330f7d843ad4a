"""Column-wise steps of a mapping: transforms, value maps, dates, emails, templates.

Each function takes a pandas string Series and returns a Series (plus, where a value
can be wrong, a boolean mask of bad rows). No Python loop per row.
"""

from __future__ import annotations

import string
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.columnar import arrow_text, is_in
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


#: The date_format that reads Excel serial day numbers (45000 is 2023-03-15).
EXCEL_SERIAL = "excel"
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # day 0 as Excel counts, after its 1900 leap bug


def _excel_serials(values: pd.Series) -> pd.Series:
    """Whole or fractional day numbers from 1 to 2958465 (year 9999) as timestamps."""
    numbers = pd.to_numeric(values.where(values.str.fullmatch(r"\d{1,7}(?:\.\d+)?"), None),
                            errors="coerce")
    numbers = numbers.where((numbers >= 1) & (numbers <= 2958465))
    return _EXCEL_EPOCH + pd.to_timedelta(numbers.astype("float64").floordiv(1), unit="D")


def parse_dates(values: pd.Series, formats: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """Parse with the declared formats only, first match wins; ISO ``YYYY-MM-DD`` out.

    ``excel`` reads Excel serial day numbers (a spreadsheet date cell saved as a number).
    """
    result = pd.Series("", index=values.index, dtype="str")
    todo = values != ""
    for fmt in formats:
        if not todo.any():
            break
        if fmt == EXCEL_SERIAL:
            parsed = _excel_serials(values[todo])
        else:
            parsed = pd.to_datetime(values[todo], format=fmt, errors="coerce")
        ok = parsed.notna()
        hit = ok[ok].index
        result.loc[hit] = parsed[ok].dt.strftime("%Y-%m-%d")
        todo.loc[hit] = False
    return result, todo


def canonical_emails(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Trim, NFC-normalise and lower-case addresses; mask the invalid or non-ASCII ones."""
    stripped = values.str.strip()
    text = arrow_text(stripped)
    if text.null_count or not pc.all(pc.string_is_ascii(text)).as_py():
        return _canonical_unicode_emails(stripped)
    # On ASCII text Unicode lower-casing changes only A-Z: the ASCII kernel is exact and
    # far cheaper. The pattern is anchored at both ends and, with no nulls and no
    # newline accepted, RE2 matches exactly what Python's fullmatch would; calling it
    # directly spares pandas' per-call scan of the column for newlines.
    canon = pc.ascii_lower(text)
    valid = pc.match_substring_regex(canon, EMAIL_PATTERN).to_numpy(zero_copy_only=False)
    bad = pc.not_equal(canon, "").to_numpy(zero_copy_only=False) & ~valid
    return (pd.Series(canon, index=values.index, dtype="str"),
            pd.Series(bad, index=values.index))


def _canonical_unicode_emails(stripped: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``canonical_emails`` for columns with non-ASCII text or missing cells."""
    ascii_only = pc.all(pc.string_is_ascii(arrow_text(stripped))).as_py()
    if ascii_only is False:
        stripped = stripped.map(lambda v: unicodedata.normalize("NFC", v))
    canon = stripped.str.lower()
    bad = (canon != "") & ~canon.str.fullmatch(EMAIL_PATTERN)
    return canon, bad.fillna(True).astype(bool)


def render_template(template: str, columns: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """Fill ``"{first_name} {last_name}"`` column-wise from already mapped fields."""
    parts: list[pa.Scalar | pa.Array] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(pa.scalar(literal, pa.large_string()))
        if name:
            parts.append(arrow_text(columns[name]))
    if not any(isinstance(p, pa.Array) for p in parts):
        literal = "".join(p.as_py() for p in parts)
        return pd.Series(literal, index=index, dtype="str").str.strip()
    # One pass joining every part (a missing cell gives a missing result, as `+` does),
    # instead of one concatenated copy of the column per part.
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
    return pd.Series(pc.utf8_trim_whitespace(joined), index=index, dtype="str")


def not_allowed(values: pd.Series, allowed: tuple[str, ...]) -> pd.Series:
    """Mask of non-blank values outside the allowed list."""
    return (values != "") & ~pd.Series(is_in(values, allowed), index=values.index)


def first_true(mask: pd.Series, limit: int) -> np.ndarray:
    """Positions of the first ``limit`` True values (to build capped problem lists)."""
    return np.flatnonzero(mask.to_numpy())[:limit]
