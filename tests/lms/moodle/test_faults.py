"""Moodle's refusals and absences as a person sees them: exit codes and messages of real
`filebridge apply` processes, and a refused person as a row error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.daemon.conftest import workspace
from tests.lms.moodle.test_end_to_end import filebridge, moodle_people, on_moodle
from tests.moodlesite import TOKEN_ENV, MoodleSite
from tests.pipeline.conftest import NIGHT1

# One xdist worker starts the session's Moodle and runs every Moodle test.
pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]


def test_bad_token_and_missing_function_exit_2_naming_what_to_fix(
        moodle: MoodleSite, tmp_path: Path) -> None:
    settings = on_moodle(workspace(tmp_path / "ws"), moodle)
    bad = filebridge(settings, "apply", "acme", str(NIGHT1), **{TOKEN_ENV: "0" * 32})
    assert bad.returncode == 2, bad.stderr
    assert "invalidtoken" in bad.stderr and "0" * 32 not in bad.stderr + bad.stdout
    limited = filebridge(settings, "apply", "acme", str(NIGHT1),
                         **{TOKEN_ENV: moodle.limited_token})
    assert limited.returncode == 2, limited.stderr
    assert "core_user_create_users" in limited.stderr
    assert "moodle/user:create" in limited.stderr
    assert moodle_people(moodle) == {}


def test_moodle_down_or_in_maintenance_is_exit_3(moodle: MoodleSite, tmp_path: Path) -> None:
    down = MoodleSite("http://127.0.0.1:9", moodle.token, "", 0, tmp_path, tmp_path)
    settings = on_moodle(workspace(tmp_path / "down"), down, ", timeouts: {connect: 2, read: 5}")
    gone = filebridge(settings, "apply", "acme", str(NIGHT1))
    assert gone.returncode == 3, gone.stderr
    assert "unavailable" in gone.stderr
    settings = on_moodle(workspace(tmp_path / "ws"), moodle)
    assert moodle.php("admin/cli/maintenance.php", "--enable").returncode == 0
    try:
        busy = filebridge(settings, "apply", "acme", str(NIGHT1))
    finally:
        assert moodle.php("admin/cli/maintenance.php", "--disable").returncode == 0
    assert busy.returncode == 3, busy.stderr
    assert moodle_people(moodle) == {}
    again = filebridge(settings, "apply", "acme", str(NIGHT1))
    assert again.returncode == 1, again.stderr  # applied, with the file's rejected rows


def test_one_refused_person_is_a_row_error_with_moodles_words(
        moodle: MoodleSite, tmp_path: Path) -> None:
    # An account made by hand holds the username one person of the file would get.
    moodle.sql("INSERT INTO mdl_user (auth, confirmed, mnethostid, username, password, "
               "firstname, lastname, email, idnumber) VALUES ('manual', 1, 1, "
               "'tomas.nowak1@acme.example', '', 'Made', 'ByHand', 'other@acme.example', '')")
    settings = on_moodle(workspace(tmp_path / "ws"), moodle)
    done = filebridge(settings, "apply", "acme", str(NIGHT1), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    refused = [p for p in report["problems"] if p["code"] == "lms-refused"]
    assert len(refused) == 1 and refused[0]["value"] == "001001"
    assert "invalid-value" in refused[0]["message"]
    people = moodle_people(moodle)
    assert people.pop("") == ("other@acme.example", "Made", "ByHand", True)  # untouched
    assert "001001" not in people and "001000" in people
    assert len(people) == report["counts"]["create"]
