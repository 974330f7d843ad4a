"""Checks of export mappings that JSON Schema cannot express (file:line: key: message).

Like ``semantics``, they run on possibly invalid data and check types before use.
"""

from __future__ import annotations

import codecs
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from filebridge.config.errors import ConfigProblem
from filebridge.config.loader import Document
from filebridge.mapping.export_names import DATE_FIELDS, name_template_problem

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


def export_mapping_problems(doc: Document) -> list[ConfigProblem]:
    """File name template, time zone, encoding, headers and date formats of an export mapping."""
    data = doc.data if isinstance(doc.data, dict) else {}
    fmt: dict[str, Any] = data["format"] if isinstance(data.get("format"), dict) else {}
    problems: list[ConfigProblem] = []
    template = data.get("file_name")
    if isinstance(template, str) and (reason := name_template_problem(template)):
        problems.append(doc.problem(("file_name",), reason))
    zone = data.get("timezone")
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(doc.problem(("timezone",), f"unknown time zone {zone!r}; "
                                        "write an IANA name such as 'Europe/Berlin'"))
    encoding = fmt.get("encoding")
    if isinstance(encoding, str):
        try:
            codecs.lookup(encoding)
        except LookupError:
            problems.append(doc.problem(("format", "encoding"), f"unknown encoding {encoding!r}"))
    columns: list[Any] = data["columns"] if isinstance(data.get("columns"), list) else []
    problems += _column_problems(doc, columns, fmt.get("type") == "xml")
    return problems


def _column_problems(doc: Document, columns: list[Any], xml: bool) -> list[ConfigProblem]:
    problems = []
    seen: dict[str, int] = {}
    for index, col in enumerate(columns):
        if not isinstance(col, dict):
            continue
        header = col.get("header")
        if isinstance(header, str):
            if header in seen:
                problems.append(doc.problem(("columns", index, "header"),
                                            f"header {header!r} is also column {seen[header]}"))
            seen.setdefault(header, index)
            if xml and not _XML_NAME.match(header):
                problems.append(doc.problem(("columns", index, "header"),
                                            f"{header!r} is not a usable XML element name "
                                            "(letters, digits, '.', '-', '_'; no spaces)"))
        fmt = col.get("date_format")
        if isinstance(fmt, str):
            if col.get("field") not in DATE_FIELDS:
                problems.append(doc.problem(("columns", index, "date_format"),
                                            "date_format applies only to completed_at, "
                                            "recorded_at and due_at"))
            elif not re.search(r"%[A-Za-z]", fmt):
                problems.append(doc.problem(("columns", index, "date_format"),
                                            f"date_format {fmt!r} has no % directive"))
        if "decimals" in col and col.get("field") != "score":
            problems.append(doc.problem(("columns", index, "decimals"),
                                        "decimals applies only to score"))
    return problems
