"""SIGKILL `filebridge apply` between Moodle's answer and the mirror, then rerun: Moodle
ends with exactly the people a clean run gives, and no person has two accounts."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.daemon.conftest import workspace
from tests.lms.moodle.test_end_to_end import builtin_people, filebridge, moodle_people, on_moodle
from tests.moodlesite import MoodleSite
from tests.pipeline.conftest import NIGHT1, NIGHT2

# One xdist worker starts the session's Moodle and runs every Moodle test.
pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]

# Small requests (about 15 people each), so a kill lands with work on both sides of it.
SMALL = ", max_input_vars: 300"


def test_killed_applies_converge_on_rerun(moodle: MoodleSite, tmp_path: Path) -> None:
    # A clean run's people: the end to end test shows Moodle equals the built-in store.
    expected = builtin_people(tmp_path, NIGHT1, NIGHT2)
    settings = on_moodle(workspace(tmp_path / "killed"), moodle, SMALL)
    # Killed after Moodle made the first people of night 1, before the mirror knew.
    killed = filebridge(settings, "apply", "acme", str(NIGHT1),
                        FILEBRIDGE_FAILPOINT="moodle-create-answered:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert 0 < len(moodle_people(moodle)) < 50
    # The people made before the kill are in Moodle now, yet the rerun finishes the
    # killed apply and is judged as it was: an initial load, whose 3% rejected rows hold
    # nothing. No --force.
    rerun = filebridge(settings, "apply", "acme", str(NIGHT1), "--json")
    assert rerun.returncode == 1, rerun.stderr
    assert json.loads(rerun.stdout)["state"] == "applied"
    # Killed after the first settled batch of night 2's updates.
    killed = filebridge(settings, "apply", "acme", str(NIGHT2),
                        FILEBRIDGE_FAILPOINT="moodle-update-settled:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert filebridge(settings, "apply", "acme", str(NIGHT2)).returncode == 1
    got = moodle_people(moodle)  # also asserts that no idnumber is held twice
    assert got == expected, {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                             if got.get(k) != expected.get(k)}
    assert len(moodle.profile("manager_id")) == len(got)
    assert filebridge(settings, "verify", "acme").returncode == 0
