"""File names and field vocabularies of export mappings, without pandas.

Configuration checks (``filebridge.config``) use these, so they live apart from the
column-wise rendering in ``export.py``.
"""

from __future__ import annotations

import string
from datetime import datetime
from typing import Final

DATE_FIELDS: Final = frozenset({"completed_at", "recorded_at", "due_at"})
NUMBER_FIELDS: Final = frozenset({"score"})
#: Placeholders a file name template may use.
NAME_FIELDS: Final = frozenset({"connection", "date", "seq", "part"})
DEFAULT_DATE_FORMAT: Final = "%Y-%m-%d"


def name_template_problem(template: str) -> str | None:
    """Why ``template`` cannot name export files, or None when it can."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"file_name {template!r} is not a valid template: {exc}"
    used = set()
    for _, name, _, _ in parts:
        if name is None:
            continue
        # Only plain names: "{date.__class__}" or "{seq[0]}" would reach into objects.
        if name not in NAME_FIELDS:
            return (f"file_name uses {{{name}}}; allowed placeholders are "
                    f"{', '.join('{' + n + '}' for n in sorted(NAME_FIELDS))}")
        used.add(name)
    if "seq" not in used:
        return "file_name must contain {seq} so that no two export files share a name"
    try:
        render_name(template, "c", datetime(2026, 1, 31), 1, 1)
    except (ValueError, TypeError) as exc:
        return f"file_name {template!r} cannot be filled in: {exc}"
    return None


def render_name(template: str, connection: str, when: datetime, seq: int, part: int) -> str:
    """A file name from the template (``when`` already in the mapping's time zone)."""
    return template.format(connection=connection, date=when, seq=seq, part=part)
