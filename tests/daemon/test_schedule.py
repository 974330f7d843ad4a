"""Schedule computations with fixed clocks: cron as cron reads it, time zones, DST days,
missed runs (once, not once per night) and the APScheduler job settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from filebridge.config import ConfigError, load_settings
from filebridge.daemon.runner import JOB_DEFAULTS
from filebridge.daemon.schedule import TaskSchedule, _weekdays, load_schedules
from tests.daemon.conftest import workspace

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cron_in_a_time_zone() -> None:
    task = TaskSchedule("acme", "import", "0 22 * * *", BERLIN)
    # 22:00 in Berlin is 21:00 UTC in winter and 20:00 UTC in summer.
    assert task.next_fire(utc(2026, 1, 10, 12)) == utc(2026, 1, 10, 21)
    assert task.next_fire(utc(2026, 7, 10, 12)) == utc(2026, 7, 10, 20)
    assert task.previous_fire(utc(2026, 7, 10, 12)) == utc(2026, 7, 9, 20)
    assert task.previous_fire(utc(2026, 7, 10, 20)) == utc(2026, 7, 10, 20)  # inclusive


@pytest.mark.parametrize(("field", "days"), [
    ("*", "*"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"),
    ("mon-fri", "mon,tue,wed,thu,fri"), ("5-7", "sun,fri,sat"), ("*/2", "sun,tue,thu,sat"),
    ("sat,sun", "sun,sat"), ("0-6", "*"),
])
def test_day_of_week_numbers_are_crons_not_apschedulers(field: str, days: str) -> None:
    # APScheduler 3 numbers weekdays from Monday; cron (and our schema) from Sunday.
    assert _weekdays(field) == days


def test_sunday_zero_fires_on_sunday() -> None:
    task = TaskSchedule("acme", "cleanup", "0 3 * * 0", "UTC")
    fire = task.next_fire(utc(2026, 11, 25))  # a Wednesday
    assert fire is not None and fire.strftime("%a %H:%M") == "Sun 03:00"


def test_day_of_month_or_day_of_week_as_in_cron() -> None:
    task = TaskSchedule("acme", "export", "0 6 13 * fri", "UTC")
    fires = task.fire_times(utc(2026, 2, 1), utc(2026, 3, 20))
    # Every Friday, plus the 13th whatever its weekday (13 Feb 2026 is a Friday: once).
    assert [f.day for f in fires] == [6, 13, 20, 27, 6, 13]


def test_autumn_dst_day_runs_once() -> None:
    task = TaskSchedule("acme", "import", "30 2 * * *", BERLIN)
    # 25 Oct 2026: 02:30 happens twice in Berlin (clocks go back at 03:00 CEST).
    fires = task.fire_times(utc(2026, 10, 24), utc(2026, 10, 27))
    assert [f.astimezone(UTC) for f in fires] == [
        utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    # A daemon started between the two 02:30s does not run the second one.
    assert task.next_fire(utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 26, 1, 30)


def test_spring_dst_day_runs_once() -> None:
    task = TaskSchedule("acme", "import", "30 2 * * *", BERLIN)
    # 29 Mar 2026: 02:30 does not exist in Berlin; the run happens once, at 03:30 CEST.
    fires = task.fire_times(utc(2026, 3, 28), utc(2026, 3, 31))
    assert [f.astimezone(UTC) for f in fires] == [
        utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_hourly_task_runs_every_real_hour_on_dst_days() -> None:
    hourly = TaskSchedule("acme", "import", "0 * * * *", BERLIN)
    assert len(hourly.fire_times(utc(2026, 10, 24, 22), utc(2026, 10, 25, 22, 59))) == 25
    assert len(hourly.fire_times(utc(2026, 3, 28, 23), utc(2026, 3, 29, 21, 59))) == 23


def test_missed_nights_make_one_run() -> None:
    task = TaskSchedule("acme", "import", "0 22 * * *", BERLIN)
    last = utc(2026, 11, 20, 21, 0, 5)  # ran on the 20th, then the daemon was down
    now = utc(2026, 11, 25, 8)
    assert task.is_due(last, now)  # five nights missed: due...
    # ...and after one catch-up run at start-up it is not due again until tonight.
    assert not task.is_due(now, now + timedelta(minutes=1))
    assert task.is_due(now, utc(2026, 11, 25, 21, 0, 1))


def test_not_due_when_the_last_run_was_after_the_last_fire_time() -> None:
    task = TaskSchedule("acme", "import", "0 22 * * *", BERLIN)
    assert not task.is_due(utc(2026, 11, 24, 21, 0, 1), utc(2026, 11, 25, 8))
    assert task.is_due(None, utc(2026, 11, 25, 8))  # never ran: due


def test_rare_cron_found_far_back() -> None:
    leap = TaskSchedule("acme", "cleanup", "0 0 29 2 *", "UTC")
    assert leap.previous_fire(utc(2030, 1, 1)) == utc(2028, 2, 29)


def test_job_defaults_coalesce_and_never_skip_late_runs() -> None:
    assert JOB_DEFAULTS == {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


def test_schedules_load_with_deadline_and_watch(tmp_path: Path) -> None:
    settings = workspace(tmp_path, """connection: acme
tasks:
  - {task: import, cron: "*/5 * * * *", timezone: Europe/Berlin}
  - {task: cleanup, cron: "0 3 * * sun"}
watch: true
expect_file_by: {time: "06:30", timezone: Europe/Berlin}
""")
    schedules = load_schedules(load_settings(settings))
    acme = schedules["acme"]
    assert [t.task for t in acme.tasks] == ["import", "cleanup"] and acme.watch
    assert acme.expect_file_by is not None and acme.expect_file_by.cron == "30 06 * * *"
    assert acme.task("cleanup") is not None and acme.task("export") is None


def test_schedule_asking_what_the_connection_cannot_do(tmp_path: Path) -> None:
    settings = workspace(tmp_path, """connection: acme
tasks:
  - {task: export, cron: "0 5 * * *"}
""")
    (tmp_path / "schedules" / "other.yaml").write_text(
        'connection: nobody\ntasks: [{task: import, cron: "0 5 * * *"}]\n')
    (tmp_path / "schedules" / "xml.yaml").write_text(
        'connection: acme-xml\nwatch: true\ntasks: [{task: import, cron: "0 5 * * *"}]\n')
    with pytest.raises(ConfigError) as caught:
        load_schedules(load_settings(settings))
    rendered = [p.render() for p in caught.value.problems]
    assert rendered == [
        "schedules/acme.yaml:3: tasks[0].task: connection 'acme' has no export_mapping "
        "in settings.yaml",
        "schedules/other.yaml:1: connection: unknown connection 'nobody' "
        "(known: acme, acme-xml)",
    ]
