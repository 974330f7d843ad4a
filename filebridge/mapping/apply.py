"""Apply a mapping to a table of source rows: canonical records plus row problems."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.columnar import is_in, mostly_unique
from filebridge.mapping.columns import (
    apply_transforms,
    apply_value_map,
    canonical_emails,
    not_allowed,
    parse_dates,
    render_template,
)
from filebridge.mapping.errors import MissingColumns
from filebridge.mapping.spec import FieldSpec, Mapping
from filebridge.person import KEY, STATUSES
from filebridge.problems import Problem, ProblemCode, ProblemList, Severity

# Called with (field, step, values) after each step of a field's mapping, for explaining
# a few rows; the nightly run passes none.
Trace = Callable[[str, str, pd.Series], None]


def _no_trace(name: str, step: str, values: pd.Series) -> None:
    """The nightly run's trace: nothing to record."""


def _step_name(kind: str, pattern: str, replacement: str) -> str:
    return f"regex_replace {pattern!r} → {replacement!r}" if kind == "regex_replace" else kind


@dataclass
class MappedRecords:
    """Canonical records (one str column per mapped field, plus ``line``) and row problems.

    ``rejected`` is a boolean mask aligned with the source rows: True where the row
    has at least one error and must not be applied. ``frame`` keeps every row so the
    reject file can show the original values; use ``accepted()`` for the good ones.
    """

    frame: pd.DataFrame
    rejected: np.ndarray
    problems: ProblemList
    warnings: list[Problem] = field(default_factory=list)

    def accepted(self) -> pd.DataFrame:
        """The rows without errors."""
        return self.frame.loc[~self.rejected]

    def rejected_keys(self) -> set[str]:
        """Employee ids of rejected rows (never deactivated because of their own bad row)."""
        keys = self.frame.loc[self.rejected, KEY]
        return set(keys[keys != ""].tolist())


@dataclass
class _Collector:
    """Gathers row errors column by column, keeping at most ``cap`` as values."""

    file: str
    lines: np.ndarray
    rejected: np.ndarray
    problems: ProblemList

    def flag(self, mask: pd.Series, code: ProblemCode, column: str, message: str,
             values: pd.Series) -> None:
        positions = np.flatnonzero(mask.to_numpy(dtype=bool))
        if not len(positions):
            return
        self.rejected[positions] = True
        room = max(self.problems.cap - len(self.problems.items), 0)
        for pos in positions[:room]:
            value = str(values.iat[pos])
            self.problems.add(Problem(code, message.format(value=value), self.file,
                                      int(self.lines[pos]), column, value))
        self.problems.dropped += max(len(positions) - room, 0)


def check_columns(mapping: Mapping, columns: list[str], file: str) -> list[Problem]:
    """Raise ``MissingColumns`` for header drift; return warnings for unknown columns."""
    missing = [s for s in mapping.sources if s not in columns]
    if missing:
        raise MissingColumns(file=file, missing=missing, found=list(columns))
    unknown = [c for c in columns if c not in set(mapping.sources)]
    if not unknown or mapping.unknown_columns == "ignore":
        return []
    message = f"columns not in the mapping: {', '.join(repr(c) for c in unknown)}"
    severity: Severity = "error" if mapping.unknown_columns == "reject" else "warning"
    return [Problem("unknown-column", message, file, 1, None, None, severity)]


def _source_values(spec: FieldSpec, frame: pd.DataFrame, done: dict[str, pd.Series]
                   ) -> pd.Series:
    if spec.source is not None:
        return frame[spec.source].astype("str")
    if spec.value is not None:
        return pd.Series(spec.value, index=frame.index, dtype="str")
    return render_template(spec.template or "", done, frame.index)


def _map_field(spec: FieldSpec, values: pd.Series, out: _Collector | _Expanding,
               trace: Trace = _no_trace) -> pd.Series:
    column = spec.source or spec.name
    trace(spec.name, "template" if spec.template is not None else
          "value" if spec.value is not None else "cell", values)
    for step in spec.transforms:
        values = apply_transforms(values, (step,))
        trace(spec.name, _step_name(step.kind, step.pattern, step.replacement), values)
    if spec.default is not None:
        values = values.where(values != "", spec.default)
        trace(spec.name, f"default {spec.default!r} when blank", values)
    if spec.value_map:
        codes = values
        values, bad = apply_value_map(values, spec)
        trace(spec.name, "map", values)
        known = ", ".join(sorted(k for k, _ in spec.value_map))
        out.flag(bad, "unmapped-value", column,
                 "value {value!r} is not in the field's map (" + known + ")", codes)
    if spec.date_formats:
        parsed, bad = parse_dates(values, spec.date_formats)
        fmts = " or ".join(spec.date_formats)
        out.flag(bad, "invalid-date", column, "{value!r} does not match the date format " + fmts,
                 values)
        values = parsed.where(~bad, "")
        trace(spec.name, "date " + fmts, values)
    if spec.name == "email" or spec.name == "manager_email":
        values, bad = canonical_emails(values)
        trace(spec.name, "email", values)
        out.flag(bad, "invalid-email", column,
                 "{value!r} is not a valid work email (ASCII user@domain.tld)", values)
    if spec.allowed:
        bad = not_allowed(values, spec.allowed)
        out.flag(bad, "not-allowed", column,
                 "{value!r} is not one of " + ", ".join(spec.allowed), values)
    if spec.name == "status":
        bad = ~pd.Series(is_in(values, STATUSES), index=values.index) & (values != "")
        out.flag(bad, "invalid-status", column,
                 "status {value!r} must map to active or inactive", values)
    if spec.required:
        code: ProblemCode = ("missing-key" if spec.name == "employee_id" else
                             "missing-email" if spec.name == "email" else "missing-value")
        out.flag(values == "", code, column, f"required field {spec.name} is blank", values)
    return values


# Below this many rows the per-row path is as fast and simpler to follow.
DISTINCT_MIN_ROWS = 1000


@dataclass
class _Expanding:
    """A collector for a column of distinct values that flags every row holding one."""

    rows: _Collector
    codes: np.ndarray

    def flag(self, mask: pd.Series, code: ProblemCode, column: str, message: str,
             values: pd.Series) -> None:
        hit = mask.to_numpy(dtype=bool)
        if not hit.any():
            return
        self.rows.flag(pd.Series(hit[self.codes]), code, column, message,
                       pd.Series(values.array.take(self.codes)))


def _map_distinct(spec: FieldSpec, values: pd.Series, out: _Collector) -> pd.Series:
    """Map each distinct value once when a column repeats itself (departments, dates, codes).

    HR columns are mostly low-cardinality: a million rows hold a few thousand dates or
    department names, so transforming, parsing and checking the distinct values and
    spreading them back by position is many times cheaper than working on every row.
    """
    if not _has_steps(spec):
        return values  # a plain copy of the cell: nothing to transform or check
    if spec.source is None or len(values) < DISTINCT_MIN_ROWS or mostly_unique(values):
        return _unchanged_or(values, _map_field(spec, values, out))
    codes, uniques = pd.factorize(values)
    if len(uniques) * 4 > len(values):
        return _unchanged_or(values, _map_field(spec, values, out))
    distinct = pd.Series(uniques, dtype="str")
    mapped = _map_field(spec, distinct, _Expanding(out, codes))
    if mapped.array.equals(distinct.array):
        return values  # nothing to change: keep the source column, no second copy
    return pd.Series(mapped.array.take(codes), index=values.index)


def _has_steps(spec: FieldSpec) -> bool:
    """Whether mapping the field can change or reject a value (else the cell is copied)."""
    return bool(spec.transforms or spec.default is not None or spec.value_map
                or spec.date_formats or spec.allowed or spec.required
                or spec.name in ("email", "manager_email", "status"))


def _unchanged_or(source: pd.Series, mapped: pd.Series) -> pd.Series:
    """``source`` itself when mapping changed no value (shares its memory), else ``mapped``."""
    if mapped is source or len(mapped) != len(source):
        return mapped
    # pandas' str columns are Arrow large strings already: these are views, not copies.
    same = pc.all(pc.equal(pa.array(source, pa.large_string()),
                           pa.array(mapped, pa.large_string())), skip_nulls=False).as_py()
    return source if same else mapped


def apply_mapping(mapping: Mapping, frame: pd.DataFrame, lines: np.ndarray, file: str,
                  trace: Trace | None = None) -> MappedRecords:
    """Map source rows to canonical records, column by column.

    ``trace`` (for a few rows) sees each field's values after every step of its mapping.
    """
    problems = ProblemList(cap=mapping.limits.max_errors)
    out = _Collector(file, lines, np.zeros(len(frame), dtype=bool), problems)
    done: dict[str, pd.Series] = {}
    # Templates read other mapped fields, so they run after every direct field.
    ordered = sorted(mapping.fields, key=lambda f: f.template is not None)
    for spec in ordered:
        source = _source_values(spec, frame, done)
        done[spec.name] = (_map_distinct(spec, source, out) if trace is None else
                           _map_field(spec, source, out, trace))
    # copy=False: a dict of columns is copied by default, doubling the file in memory.
    result = pd.DataFrame({name: done[name].astype("str") for name in mapping.names},
                          index=frame.index, copy=False)
    result["line"] = lines
    return MappedRecords(result.reset_index(drop=True), out.rejected, problems)

