"""Export mapping: learning records → the columns an HR system wants back.

``export_mapping_from_dict`` turns a validated YAML document (schema
``export-mapping.schema.json``) into frozen values; ``render_rows`` turns export rows
into text cells column-wise (dates in the mapping's time zone and format, value maps,
decimals). Pure: no files, no clock, no database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import pandas as pd

from filebridge.mapping.export_names import (
    DATE_FIELDS,
    DEFAULT_DATE_FORMAT,
    NUMBER_FIELDS,
)

ExportFormatType = Literal["csv", "pipe", "xml"]
LineEnding = Literal["crlf", "lf", "cr"]
RecordType = Literal["new", "amendment", "resend"]

LINE_ENDINGS: Final[dict[str, str]] = {"crlf": "\r\n", "lf": "\n", "cr": "\r"}
#: Every field an export column can show (the schema's enum lists the same names).
EXPORT_FIELDS: Final[tuple[str, ...]] = (
    "person.employee_id", "person.email", "person.first_name", "person.last_name",
    "person.department_code", "course.code", "course.title", "status", "completed_at",
    "score", "time_spent_minutes", "attempt", "recorded_at", "due_at", "record_type",
    "completion_id", "revision",
)

@dataclass(frozen=True)
class ExportColumn:
    """One output column: a header and either a field or a constant value."""

    header: str
    field: str | None = None
    value: str | None = None
    date_format: str = DEFAULT_DATE_FORMAT
    map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    decimals: int | None = None
    neutralize: bool = True


@dataclass(frozen=True)
class ExportFormat:
    """How the file is spelled for this HR system."""

    type: ExportFormatType = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    line_ending: LineEnding = "crlf"
    xml_root: str = "Completions"
    xml_record: str = "Completion"
    xml_namespace: str | None = None

    @property
    def line_terminator(self) -> str:
        """The line ending as characters."""
        return LINE_ENDINGS[self.line_ending]


@dataclass(frozen=True)
class ExportMapping:
    """A validated export mapping."""

    path: Path
    format: ExportFormat
    file_name: str
    columns: tuple[ExportColumn, ...]
    timezone: str = "UTC"
    courses: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    overdue: bool = False
    overdue_status: str = "overdue"
    max_rows_per_file: int | None = None
    done_marker: bool = False
    send_empty: bool = False

    @property
    def headers(self) -> list[str]:
        """Column headers in file order."""
        return [c.header for c in self.columns]

    @property
    def neutralized(self) -> list[str]:
        """Headers of the columns guarded against formula injection."""
        return [c.header for c in self.columns if c.neutralize]


def export_mapping_from_dict(path: Path, data: dict[str, Any]) -> ExportMapping:
    """Frozen values from an already validated export mapping document."""
    fmt = dict(data.get("format") or {})
    xml = dict(fmt.pop("xml", None) or {})
    kind = fmt.get("type", "csv")
    delimiter = "|" if kind == "pipe" else fmt.get("delimiter", ",")
    export_format = ExportFormat(
        type=kind, encoding=fmt.get("encoding", "utf-8"), delimiter=delimiter,
        quotechar=fmt.get("quotechar", '"'), line_ending=fmt.get("line_ending", "crlf"),
        xml_root=xml.get("root", "Completions"), xml_record=xml.get("record", "Completion"),
        xml_namespace=xml.get("namespace"))
    columns = tuple(
        ExportColumn(header=str(c["header"]), field=c.get("field"),
                     value=None if c.get("value") is None else str(c["value"]),
                     date_format=c.get("date_format", DEFAULT_DATE_FORMAT),
                     map={str(k): str(v) for k, v in (c.get("map") or {}).items()},
                     decimals=c.get("decimals"), neutralize=c.get("neutralize", True))
        for c in data["columns"])
    filters = data.get("filters") or {}
    overdue = data.get("overdue") or {}
    return ExportMapping(
        path=path, format=export_format, file_name=data["file_name"], columns=columns,
        timezone=data.get("timezone", "UTC"),
        courses=frozenset(filters["courses"]) if "courses" in filters else None,
        statuses=frozenset(filters["statuses"]) if "statuses" in filters else None,
        overdue=bool(overdue.get("include", False)),
        overdue_status=str(overdue.get("status", "overdue")),
        max_rows_per_file=data.get("max_rows_per_file"),
        done_marker=bool(data.get("done_marker", False)),
        send_empty=bool(data.get("send_empty", False)))


def render_rows(mapping: ExportMapping, rows: pd.DataFrame) -> pd.DataFrame:
    """Text cells, one column per mapping column, headers as column names.

    ``rows`` has one column per field without its ``person.``/``course.`` prefix
    (``course.code`` is ``course_code``); missing values become empty cells.
    """
    tz = ZoneInfo(mapping.timezone)
    out: dict[str, pd.Series] = {}
    for col in mapping.columns:
        if col.field is None:
            text = pd.Series([col.value or ""] * len(rows), index=rows.index, dtype="string")
        else:
            text = _cells(col, rows[column_of(col.field)], tz)
        if col.map:
            text = text.map(lambda v, m=col.map: m.get(v, v)).astype("string")
        out[col.header] = text.fillna("")
    return pd.DataFrame(out, index=rows.index).reset_index(drop=True)


def column_of(field_name: str) -> str:
    """The row column holding ``field_name`` (``course.code`` → ``course_code``)."""
    if field_name.startswith("person."):
        return field_name.removeprefix("person.")
    return field_name.replace(".", "_")


def _cells(col: ExportColumn, values: pd.Series, tz: ZoneInfo) -> pd.Series:
    if col.field in DATE_FIELDS:
        stamps = pd.to_datetime(values, utc=True).dt.tz_convert(tz)
        return stamps.dt.strftime(col.date_format).astype("string")
    if col.field in NUMBER_FIELDS:
        numbers = pd.to_numeric(values, errors="coerce")
        if col.decimals is not None:
            return numbers.map(lambda v: "" if pd.isna(v) else f"{v:.{col.decimals}f}")\
                .astype("string")
        # Without declared decimals: 80 not 80.0, but 82.5 stays 82.5.
        return numbers.map(_plain_number).astype("string")
    if pd.api.types.is_float_dtype(values):
        values = values.astype("Int64")  # integer columns arrive as float when NULLs exist
    return values.astype("string")


def _plain_number(value: float) -> str:
    if pd.isna(value):
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
