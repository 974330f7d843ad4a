"""Checks of schedule documents that JSON Schema cannot express: cron and time zones."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from typing import Any

from filebridge.config.errors import ConfigProblem
from filebridge.config.loader import Document, KeyPath
from filebridge.config.validate import did_you_mean

# (name, lowest, highest, names usable instead of numbers); day of week 7 is Sunday, as in cron.
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, tuple("jan feb mar apr may jun jul aug sep oct nov dec".split())),
    ("day of week", 0, 7, tuple("sun mon tue wed thu fri sat".split())),
)
_CRON_ITEM = re.compile(r"^(?:\*|(?P<lo>\w+)(?:-(?P<hi>\w+))?)(?:/(?P<step>\d+))?$")


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a valid 5-field cron expression, or None if it is."""
    parts = expression.split()
    if len(parts) != 5:
        return (
            f"cron {expression!r} has {len(parts)} field(s), expected 5 "
            "(minute hour day-of-month month day-of-week), e.g. '0 22 * * *'"
        )
    for text, (name, low, high, names) in zip(parts, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            reason = _cron_item_problem(item.lower(), low, high, names)
            if reason:
                return f"cron {expression!r}: {name} {item!r} {reason}"
    return None


def _cron_item_problem(item: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    match = _CRON_ITEM.match(item)
    if not match:
        return "is not a value, range, list or step (like 5, 1-5, 1,15 or */10)"
    if match["step"] is not None and int(match["step"]) == 0:
        return "has a step of 0"
    bounds = []
    for text in (match["lo"], match["hi"]):
        if text is None:
            continue
        if text.isdigit():
            number = int(text)
        elif text in names:
            number = names.index(text) + (1 if low == 1 else 0)
        else:
            return "is not a number" + (f" or one of {', '.join(names)}" if names else "")
        if not low <= number <= high:
            return f"is out of range {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return "is a range that runs backwards"
    return None


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a known IANA time zone, or None if it is."""
    try:
        zoneinfo.ZoneInfo(name)
        return None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}{did_you_mean(name, _zone_names())}"


def schedule_problems(doc: Document) -> list[ConfigProblem]:
    """Cron expressions, time zones and deadlines of a schedule document."""
    data = doc.data if isinstance(doc.data, dict) else {}
    problems: list[ConfigProblem] = []
    tasks = data.get("tasks")
    tasks = tasks if isinstance(tasks, list) else []
    for index, task in enumerate(tasks):
        if isinstance(task, dict):
            problems += _timing_problems(doc, ("tasks", index), task)
    deadline = data.get("expect_file_by")
    if isinstance(deadline, dict):
        at: KeyPath = ("expect_file_by",)
        problems += _timing_problems(doc, at, deadline)
        if ("cron" in deadline) == ("time" in deadline):
            problems.append(doc.problem(at, "give exactly one of cron or time"))
    return problems


def _timing_problems(doc: Document, at: KeyPath, spec: dict[str, Any]) -> list[ConfigProblem]:
    problems = []
    if isinstance(spec.get("cron"), str) and (reason := cron_problem(spec["cron"])):
        problems.append(doc.problem(at + ("cron",), reason))
    if isinstance(spec.get("timezone"), str) and (reason := timezone_problem(spec["timezone"])):
        problems.append(doc.problem(at + ("timezone",), reason))
    return problems
