"""SIGKILL `filebridge apply` between Moodle's answer and the mirror, then rerun: Moodle
ends with exactly the people a clean run gives, and no person has two accounts."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from filebridge.pipeline.context import open_context
from tests.daemon.conftest import workspace
from tests.lms.moodle.test_end_to_end import builtin_people, filebridge, moodle_people, on_moodle
from tests.moodlesite import PROFILE_FIELDS, MoodleSite
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


def moodle_state(site: MoodleSite) -> dict[str, dict[str, object]]:
    """idnumber → every field of the account as Moodle holds it (custom profile fields
    included), but its database id: what a clean run and a killed one must agree on."""
    fields = {name: site.profile(name) for name in PROFILE_FIELDS}
    out: dict[str, dict[str, object]] = {}
    for account in site.accounts():
        key = str(account["idnumber"])
        assert key not in out, f"idnumber {key} is held by two accounts"
        out[key] = {**{k: v for k, v in account.items() if k != "id"},
                    **{name: values.get(key, "") for name, values in fields.items()}}
    return out


def test_killed_between_batches_reruns_converge_to_a_clean_run(moodle: MoodleSite,
                                                              tmp_path: Path) -> None:
    # A clean run on Moodle itself, read back field by field.
    clean = on_moodle(workspace(tmp_path / "clean"), moodle)
    creates = []
    for night in (NIGHT1, NIGHT2):
        done = filebridge(clean, "apply", "acme", str(night), "--json")
        assert done.returncode == 1, done.stderr  # the sample nights have rejected rows
        creates.append(json.loads(done.stdout)["counts"]["create"])
    expected = moodle_state(moodle)
    assert len(expected) == sum(creates) > 150

    moodle.reset()
    # The smallest requests the settings allow (a few people each), so both nights have
    # batches on both sides of the kill.
    settings = on_moodle(workspace(tmp_path / "killed"), moodle, ", max_input_vars: 100")
    made = []
    for night, planned in zip((NIGHT1, NIGHT2), creates, strict=True):
        before = len(moodle.accounts())
        killed = filebridge(settings, "apply", "acme", str(night),
                            FILEBRIDGE_FAILPOINT="mid-apply:kill")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        made.append(len(moodle.accounts()) - before)  # the first batch of creates
        assert 0 < made[-1] < planned
        rerun = filebridge(settings, "apply", "acme", str(night), "--json")
        assert rerun.returncode == 1, rerun.stderr
        assert json.loads(rerun.stdout)["state"] == "applied"

    got = moodle_state(moodle)
    assert got == expected, {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                             if got.get(k) != expected.get(k)}
    usernames = [a["username"] for a in moodle.accounts()]
    assert len(usernames) == len(set(usernames))
    # The ledger is settled: each killed run failed with what Moodle confirmed before the
    # kill (and the managed count it was judged against), each rerun applied the rest.
    history = json.loads(filebridge(settings, "history", "acme", "--json").stdout)["runs"]
    assert [(r["state"], r["counts"].get("create")) for r in reversed(history)] == [
        ("failed", made[0]), ("applied", creates[0] - made[0]),
        ("failed", made[1]), ("applied", creates[1] - made[1])]
    assert [r["managed_when_applying"] for r in reversed(history)
            if r["state"] == "failed"] == [0, creates[0]]
    ctx = open_context(settings)
    try:
        assert ctx.target("acme").mirror.open_keys("acme") == []  # type: ignore[attr-defined]
        assert ctx.ledger.intents.open() == []
    finally:
        ctx.close()
    assert filebridge(settings, "verify", "acme").returncode == 0
