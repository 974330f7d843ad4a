"""A mapping as objects: how source columns become canonical fields.

Built from a validated mapping document (``filebridge.config.load_mapping``); the
JSON Schema has already checked shapes and vocabularies, so this module only
turns data into frozen values.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from filebridge.mapping.groups import GroupRule, rules_from
from filebridge.person import KEY

FileKind = Literal["snapshot", "delta"]
UnknownColumns = Literal["ignore", "warn", "reject"]
EmptyPolicy = Literal["keep", "clear"]
# hr: every file overwrites the field (a change in the LMS is drift); lms: set at creation only.
Owner = Literal["hr", "lms"]


@dataclass(frozen=True)
class Transform:
    """One step of a field's transform chain."""

    kind: Literal["trim", "lower", "upper", "collapse_spaces", "regex_replace"]
    pattern: str = ""
    replacement: str = ""


@dataclass(frozen=True)
class FieldSpec:
    """How one canonical field is computed from a source row."""

    name: str
    source: str | None = None  # CSV header or XML path
    template: str | None = None
    value: str | None = None
    required: bool = False
    transforms: tuple[Transform, ...] = ()
    value_map: tuple[tuple[str, str], ...] = ()
    map_default: str | None = None
    allowed: tuple[str, ...] = ()
    date_formats: tuple[str, ...] = ()
    default: str | None = None
    empty: EmptyPolicy = "keep"
    owner: Owner = "hr"


@dataclass(frozen=True)
class ExportTime:
    """Where a file's own export time comes from: its name (regex) or a column."""

    format: str
    file_name: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class FormatSpec:
    """How the file is laid out (what ``filebridge.formats`` needs to read it)."""

    type: Literal["csv", "xml", "json", "xlsx"] = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    quoting: Literal["minimal", "none"] = "minimal"
    record_terminator: str = ""
    record_path: str = ""
    namespaces: tuple[tuple[str, str], ...] = ()
    json_lines: bool = False
    sheet: str = ""


@dataclass(frozen=True)
class MappingLimits:
    """Bounds on what one file may contain."""

    max_file_bytes: int = 2_000_000_000
    max_field_chars: int = 100_000
    max_errors: int = 1000


@dataclass(frozen=True)
class Mapping:
    """A whole import mapping."""

    path: Path
    format: FormatSpec
    fields: tuple[FieldSpec, ...]
    file_kind: FileKind = "snapshot"
    unknown_columns: UnknownColumns = "warn"
    limits: MappingLimits = field(default_factory=MappingLimits)
    delta_files: str | None = None  # glob: files whose name matches are read as deltas
    export_time: ExportTime | None = None
    groups: tuple[GroupRule, ...] = ()  # group membership rules, in order

    def kind_of(self, file_name: str) -> FileKind:
        """Snapshot or delta for this file (``delta_files`` overrides ``file_kind``)."""
        if self.delta_files and fnmatch.fnmatchcase(file_name, self.delta_files):
            return "delta"
        return self.file_kind

    def field(self, name: str) -> FieldSpec | None:
        """The spec of field ``name``, or None when the mapping does not map it."""
        return next((f for f in self.fields if f.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        """Every mapped canonical field name, the key first."""
        return tuple(f.name for f in self.fields)

    def column_names(self) -> dict[str, str]:
        """Canonical field → the source column (or XML path) it is read from."""
        return {f.name: f.source for f in self.fields if f.source is not None}

    @property
    def sources(self) -> tuple[str, ...]:
        """The source columns (or XML paths) the mapping reads, in order."""
        seen: dict[str, None] = {}
        for f in self.fields:
            if f.source is not None:
                seen.setdefault(f.source, None)
        if self.export_time is not None and self.export_time.column is not None:
            seen.setdefault(self.export_time.column, None)
        return tuple(seen)

    @property
    def lms_owned(self) -> frozenset[str]:
        """Fields set at creation only."""
        return frozenset(f.name for f in self.fields if f.owner == "lms")


def _transform(item: Any) -> Transform:
    if isinstance(item, str):
        return Transform(kind=item)  # type: ignore[arg-type]
    spec = item["regex_replace"]
    return Transform("regex_replace", spec["pattern"], spec.get("replacement", ""))


def _field(name: str, d: AbcMapping[str, Any]) -> FieldSpec:
    fmt = d.get("date_format", ())
    return FieldSpec(
        name=name,
        source=d.get("column", d.get("path")),
        template=d.get("template"),
        value=None if d.get("value") is None else str(d["value"]),
        required=bool(d.get("required", name == KEY)),
        transforms=tuple(_transform(t) for t in d.get("transform", ())),
        value_map=tuple((str(k), str(v)) for k, v in (d.get("map") or {}).items()),
        map_default=d.get("map_default"),
        allowed=tuple(str(a) for a in d.get("allowed", ())),
        date_formats=(fmt,) if isinstance(fmt, str) else tuple(fmt),
        default=None if d.get("default") is None else str(d["default"]),
        empty=d.get("empty", "keep"),
        # ``lms_owned: true`` is the deprecated spelling of ``owner: lms``.
        owner=d.get("owner", "lms" if d.get("lms_owned") else "hr"),
    )


def mapping_from_dict(path: Path, data: AbcMapping[str, Any]) -> Mapping:
    """Build a ``Mapping`` from a schema-validated mapping document."""
    fmt = data.get("format", {})
    limits = data.get("limits", {})
    stamp = data.get("export_time")
    fields = tuple(_field(name, spec or {}) for name, spec in data["fields"].items())
    return Mapping(
        path=path,
        format=FormatSpec(
            type=fmt.get("type", "csv"),
            encoding=fmt.get("encoding", "utf-8"),
            delimiter=fmt.get("delimiter", ","),
            quotechar=fmt.get("quotechar", '"'),
            quoting=fmt.get("quoting", "minimal"),
            record_terminator=fmt.get("record_terminator", ""),
            record_path=fmt.get("record_path", ""),
            namespaces=tuple((fmt.get("namespaces") or {}).items()),
            json_lines=bool(fmt.get("json_lines", False)),
            sheet=fmt.get("sheet", ""),
        ),
        fields=fields,
        file_kind=data.get("file_kind", "snapshot"),
        unknown_columns=data.get("unknown_columns", "warn"),
        delta_files=data.get("delta_files"),
        export_time=None if stamp is None else ExportTime(
            stamp["format"], stamp.get("file_name"), stamp.get("column")),
        limits=MappingLimits(**{k: int(v) for k, v in limits.items()}),
        groups=rules_from(data.get("groups")),
    )
