"""Schedules: schedules/*.yaml as APScheduler triggers, and which runs are due.

Cron expressions are read as cron reads them (day of week 0 and 7 are Sunday; a
restricted day of month *or* day of week matches), in the task's IANA time zone. A
wall-clock time that happens twice when the clocks go back runs once (the first
time), unless the hour field is ``*``: an hourly task runs every real hour. A time
skipped when the clocks go forward runs once, at the shifted instant.

APScheduler 3's memory job store forgets everything on restart, so whether a run was
missed while the daemon was down is decided here from the ledger: a task is due when
it never ran or its last finished run started before the latest fire time. However
many nights were missed, that is one run.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from filebridge.config import ConfigError, ConfigProblem, Document, Settings, load_schedule

TaskName = Literal["import", "export", "cleanup", "verify"]
TASK_NAMES: tuple[TaskName, ...] = ("import", "export", "cleanup", "verify")
DEADLINE_TASK = "expect-file"  # the missing-file check, scheduled like a task

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ITEM = re.compile(r"^(?:(?P<all>\*)|(?P<lo>\w+)(?:-(?P<hi>\w+))?)(?:/(?P<step>\d+))?$")
# The longest gap between two fire times of any 5-field cron (29 February: 8 years).
_LOOKBACKS = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=9),
              timedelta(days=32), timedelta(days=367), timedelta(days=366 * 8 + 2))


def _day_number(text: str) -> int:
    return int(text) % 7 if text.isdigit() else _DAYS.index(text[:3].lower())


def _weekdays(text: str) -> str:
    """A cron day-of-week field as APScheduler day names (its numbers start on Monday)."""
    days: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"day of week {item!r}")
        step = int(match["step"] or 1)
        if match["all"]:
            low, high = 0, 6
        else:
            low = int(match["lo"]) if match["lo"].isdigit() else _day_number(match["lo"])
            high = low if match["hi"] is None and not match["step"] else (
                (int(match["hi"]) if match["hi"].isdigit() else _day_number(match["hi"]))
                if match["hi"] is not None else 6)
        days |= {d % 7 for d in range(low, high + 1, step)}
    if days == set(range(7)):
        return "*"
    return ",".join(_DAYS[d] for d in sorted(days))


class CalendarTrigger(BaseTrigger):
    """A cron expression in a time zone, with cron's day rule and one run per wall time."""

    def __init__(self, expression: str, timezone: str) -> None:
        minute, hour, day, month, dow = expression.split()
        self.expression, self.timezone_name = expression, timezone
        self.timezone: tzinfo = zoneinfo.ZoneInfo(timezone)
        self.hourly = hour in ("*", "*/1")
        weekdays = _weekdays(dow)
        fields = {"minute": minute, "hour": hour, "month": month, "timezone": self.timezone}
        if day != "*" and weekdays != "*":
            # cron fires when either day field matches; APScheduler wants both.
            self.parts = [CronTrigger(day=day, **fields),
                          CronTrigger(day_of_week=weekdays, **fields)]
        else:
            self.parts = [CronTrigger(day=day, day_of_week=weekdays, **fields)]

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        """The next fire time after ``previous_fire_time`` (or from ``now``)."""
        while True:
            found = [t for p in self.parts
                     if (t := p.get_next_fire_time(previous_fire_time, now)) is not None]
            if not found:
                return None
            candidate = min(found)
            # Asked from inside the hour that repeats when the clocks go back, APScheduler 3
            # may answer with the first occurrence (in the past) or the second (already run).
            stale = previous_fire_time is None and candidate < now
            if not stale and (self.hourly or not _second_occurrence(candidate)):
                return candidate
            previous_fire_time, now = None, self._after_repeated_hour(max(candidate, now))

    def _after_repeated_hour(self, moment: datetime) -> datetime:
        """The first whole minute after ``moment`` whose wall-clock time is not ambiguous."""
        probe = (moment.astimezone(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
        while _ambiguous(probe.astimezone(self.timezone)):
            probe += timedelta(minutes=1)
        return probe.astimezone(self.timezone)

    def __str__(self) -> str:
        return f"cron[{self.expression} {self.timezone_name}]"


def _ambiguous(moment: datetime) -> bool:
    """True when ``moment``'s wall-clock time happens twice (the clocks went back)."""
    return moment.replace(fold=0).utcoffset() != moment.replace(fold=1).utcoffset()


def _second_occurrence(moment: datetime) -> bool:
    """True for the later of two instants sharing one wall-clock time."""
    return moment.fold == 1 and _ambiguous(moment)


@dataclass(frozen=True)
class TaskSchedule:
    """When one task of one connection runs (or, for ``expect-file``, its deadline)."""

    connection: str
    task: str
    cron: str
    timezone: str = "UTC"
    trigger: CalendarTrigger = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger", CalendarTrigger(self.cron, self.timezone))

    def next_fire(self, now: datetime) -> datetime | None:
        """The first fire time after ``now``."""
        # Arithmetic in UTC: adding to a local time would drop its fold (which 02:30).
        return self.trigger.get_next_fire_time(None, self._local(now, timedelta(microseconds=1)))

    def previous_fire(self, now: datetime) -> datetime | None:
        """The latest fire time at or before ``now``, or None if there is none."""
        now = self._local(now)
        for lookback in _LOOKBACKS:
            latest = None
            moment = self.trigger.get_next_fire_time(None, self._local(now, -lookback))
            while moment is not None and moment <= now:
                latest = moment
                moment = self.trigger.get_next_fire_time(moment, now)
            if latest is not None:
                return latest
        return None

    def _local(self, moment: datetime, shift: timedelta = timedelta(0)) -> datetime:
        return (moment.astimezone(UTC) + shift).astimezone(self.trigger.timezone)

    def fire_times(self, start: datetime, end: datetime) -> list[datetime]:
        """Every fire time in ``[start, end]``, as a daemon running throughout would see them."""
        times: list[datetime] = []
        moment = self.trigger.get_next_fire_time(None, start.astimezone(self.trigger.timezone))
        while moment is not None and moment <= end:
            times.append(moment)
            moment = self.trigger.get_next_fire_time(moment, moment)
        return times

    def is_due(self, last_started: datetime | None, now: datetime) -> bool:
        """Never ran, or the last finished run started before the latest fire time."""
        latest = self.previous_fire(now)
        if latest is None:
            return False
        return last_started is None or last_started < latest


@dataclass(frozen=True)
class ConnectionSchedule:
    """Everything scheduled for one connection, from its schedule file."""

    connection: str
    source: Path
    tasks: tuple[TaskSchedule, ...]
    watch: bool = False
    expect_file_by: TaskSchedule | None = None

    def task(self, name: str) -> TaskSchedule | None:
        """The schedule of task ``name`` (``expect-file`` for the deadline), if any."""
        if name == DEADLINE_TASK:
            return self.expect_file_by
        return next((t for t in self.tasks if t.task == name), None)


def _from_document(doc: Document) -> ConnectionSchedule:
    data: dict[str, Any] = doc.data
    name = data["connection"]
    tasks = tuple(TaskSchedule(name, t["task"], t["cron"], t.get("timezone", "UTC"))
                  for t in data["tasks"])
    deadline = None
    if spec := data.get("expect_file_by"):
        cron = spec.get("cron") or "{1} {0} * * *".format(*spec["time"].split(":"))
        deadline = TaskSchedule(name, DEADLINE_TASK, cron, spec.get("timezone", "UTC"))
    return ConnectionSchedule(name, doc.path, tasks, bool(data.get("watch")), deadline)


def schedule_files(settings: Settings) -> list[Path]:
    """The schedule files: those connections name, then schedules/*.yaml beside settings."""
    named = [c.schedule for c in settings.connections.values() if c.schedule is not None]
    folder = settings.base_dir / "schedules"
    found = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    unique: dict[Path, Path] = {}
    for path in [*named, *found]:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def load_schedules(settings: Settings) -> dict[str, ConnectionSchedule]:
    """Every connection's schedule, validated against the settings; ``ConfigError`` lists all."""
    schedules: dict[str, ConnectionSchedule] = {}
    problems: list[ConfigProblem] = []
    for path in schedule_files(settings):
        try:
            doc = load_schedule(path, settings.base_dir)
        except ConfigError as exc:
            problems += exc.problems
            continue
        problems += _link_problems(doc, settings, schedules)
        if not problems:
            schedule = _from_document(doc)
            schedules[schedule.connection] = schedule
    if problems:
        raise ConfigError(problems)
    return schedules


def _link_problems(doc: Document, settings: Settings,
                   seen: dict[str, ConnectionSchedule]) -> list[ConfigProblem]:
    """What a schedule asks that its connection cannot do."""
    name = doc.data["connection"]
    conn = settings.connections.get(name)
    if conn is None:
        known = ", ".join(sorted(settings.connections)) or "none"
        return [doc.problem(("connection",), f"unknown connection {name!r} (known: {known})")]
    if name in seen:
        return [doc.problem(("connection",), f"connection {name!r} already has a schedule in "
                                             f"{seen[name].source.name}")]
    problems = []
    needs = {"import": conn.import_mapping, "export": conn.export_mapping}
    for index, task in enumerate(doc.data["tasks"]):
        if task["task"] in needs and needs[task["task"]] is None:
            problems.append(doc.problem(("tasks", index, "task"),
                                        f"connection {name!r} has no {task['task']}_mapping "
                                        "in settings.yaml"))
    if doc.data.get("watch") and conn.transport.get("type") != "local":
        problems.append(doc.problem(("watch",), f"connection {name!r} is not a local folder; "
                                                "only local inboxes can be watched"))
    return problems
