"""Schedules: cron expressions and time zones are checked, not just typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.config import load_schedule
from filebridge.config.schedule import cron_problem
from tests.config.conftest import Write, errors_of


def test_bad_timezone_cron_and_deadline(write: Write, tmp_path: Path) -> None:
    path = write(
        "schedules/acme.yaml",
        """
        connection: acme
        tasks:
          - task: import
            cron: "0 25 * * *"
            timezone: europe/berlin
          - task: backup
            cron: "0 3 * * *"
        expect_file_by:
          time: "6:00"
        """,
    )
    both = write(
        "schedules/b.yaml",
        "connection: b\ntasks: [{task: import, cron: '0 1 * * *'}]\n"
        "expect_file_by: {cron: '0 6 * * *', time: '06:00'}\n",
    )
    assert errors_of(load_schedule, both, tmp_path) == [
        "schedules/b.yaml:3: expect_file_by: give exactly one of cron or time"
    ]
    assert errors_of(load_schedule, path, tmp_path) == [
        "schedules/acme.yaml:4: tasks[0].cron: cron '0 25 * * *': hour '25' is out of range 0-23",
        "schedules/acme.yaml:5: tasks[0].timezone: unknown time zone 'europe/berlin' "
        "(did you mean 'Europe/Berlin'?)",
        "schedules/acme.yaml:6: tasks[1].task: 'backup' is not one of "
        "['import', 'export', 'cleanup', 'verify']",
        "schedules/acme.yaml:9: expect_file_by.time: '6:00' does not have the expected form, "
        "e.g. '06:00'",
    ]


@pytest.mark.parametrize(
    "expression", ["0 22 * * *", "*/15 0-6,22-23 1 jan,jul 7", "30 5 * * mon-fri", "0 0 1-31/2 * *"]
)
def test_valid_cron(expression: str) -> None:
    assert cron_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 0 L * *", "day of month 'L' is not a number"),
        ("5-1 * * * *", "minute '5-1' is a range that runs backwards"),
        ("*/0 * * * *", "minute '*/0' has a step of 0"),
        (
            "0 0 * * fri-xyz",
            "day of week 'fri-xyz' is not a number or one of sun, mon, tue, wed, thu, fri, sat",
        ),
    ],
)
def test_invalid_cron(expression: str, reason: str) -> None:
    assert cron_problem(expression) == f"cron {expression!r}: {reason}"
