"""`filebridge apply`, `verify` and `run --once` as real processes against a real Moodle:
the accounts Moodle ends up with are the people the built-in store ends up with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from filebridge.lms.moodle import target_from_config
from filebridge.lms.moodle.client import MoodleClient
from filebridge.pipeline.context import open_context
from tests.daemon.conftest import drop, workspace
from tests.lms.moodle.conftest import block
from tests.moodlesite import TOKEN_ENV, MoodleSite
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace

# One xdist worker starts the session's Moodle and runs every Moodle test.
pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]

NIGHTLY = ('connection: acme\ntasks:\n'
           '  - {task: import, cron: "0 22 * * *", timezone: Europe/Berlin}\n')


def on_moodle(settings: Path, site: MoodleSite, extra: str = "") -> Path:
    """Point the acme connection of a workspace at ``site``."""
    text = settings.read_text(encoding="utf-8").replace(
        "    import_mapping: mappings/acme.yaml\n",
        "    import_mapping: mappings/acme.yaml\n"
        f"    lms: {{type: moodle, url: '{site.url}', token: '${{env:{TOKEN_ENV}}}', "
        "profile_fields: {manager_id: manager_id, cost_center: custom.cost_center}"
        f"{extra}}}\n", 1)
    settings.write_text(text, encoding="utf-8")
    return settings


def filebridge(settings: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command as its own process."""
    return subprocess.run([sys.executable, "-m", "filebridge.cli.main", *args, "--settings",
                           str(settings)], env={**os.environ, **env}, capture_output=True,
                          text=True, check=False, timeout=600)


def builtin_people(tmp_path: Path, *files: Path) -> dict[str, tuple[str, str, str, bool]]:
    """employee id -> (email, first name, last name, active) after the built-in store
    took the same files."""
    settings = write_workspace(tmp_path / "builtin")
    for f in files:
        assert filebridge(settings, "apply", "acme", str(f)).returncode in (0, 1)
    ctx = open_context(settings)
    try:
        users = ctx.store.users("acme")
    finally:
        ctx.close()
    return {r.employee_id: (r.email, r.first_name, r.last_name, bool(r.active))
            for r in users.itertuples()}


def moodle_people(site: MoodleSite) -> dict[str, tuple[str, str, str, bool]]:
    """idnumber -> (email, first name, last name, active) of every Moodle account."""
    accounts = [a for a in site.accounts() if not a["deleted"]]
    ids = [a["idnumber"] for a in accounts]
    assert len(ids) == len(set(ids)), "an idnumber is held by two accounts"
    return {a["idnumber"]: (a["email"], a["firstname"], a["lastname"], not a["suspended"])
            for a in accounts}


def test_apply_verify_and_run_once(moodle: MoodleSite, tmp_path: Path) -> None:
    settings = on_moodle(workspace(tmp_path / "ws", NIGHTLY), moodle)
    first = filebridge(settings, "apply", "acme", str(NIGHT1), "--json")
    report = json.loads(first.stdout)
    assert first.returncode == 1, first.stderr  # the sample night has rejected rows
    assert report["state"] == "applied" and report["counts"]["create"] > 150
    assert moodle_people(moodle) == builtin_people(tmp_path, NIGHT1)
    accounts = {a["idnumber"]: a for a in moodle.accounts()}
    assert accounts["001001"]["username"] == accounts["001001"]["email"]
    assert accounts["001001"]["country"] == "DE" and accounts["001001"]["auth"] == "manual"
    assert moodle.profile("manager_id")["001001"] == "001000"
    assert moodle.profile("cost_center")["001000"] == '=HYPERLINK("x")'
    assert filebridge(settings, "verify", "acme").returncode == 0

    # Changed by hand in Moodle: verify reports it, --repair has the next run undo it.
    moodle.sql("UPDATE mdl_user SET firstname = 'Hand' WHERE idnumber = '001001'")
    moodle.sql("UPDATE mdl_user SET suspended = 1 WHERE idnumber = '001002'")
    # Deleted by an admin, through Moodle's own deletion.
    MoodleClient(target_from_config(block(moodle)), moodle.token).call(
        "core_user_delete_users", {"userids": [accounts["001003"]["id"]]})
    checked = filebridge(settings, "verify", "acme", "--json", "--repair")
    assert checked.returncode == 1, checked.stderr
    drift = json.loads(checked.stdout)
    assert [(c["employee_id"], c["fields"]) for c in drift["changed"]] == [
        ("001001", {"first_name": {"mirror": accounts["001001"]["firstname"], "lms": "Hand"}})]
    assert (drift["deactivated"], drift["deleted"], drift["repaired"]) == (
        ["001002"], ["001003"], True)
    assert drift["location"] == moodle.url

    drop(settings, NIGHT2, NIGHT2.name)
    night = filebridge(settings, "run", "--once")
    assert night.returncode == 1, night.stdout + night.stderr  # rejected rows again
    assert moodle_people(moodle) == builtin_people(tmp_path, NIGHT1, NIGHT2)
    assert filebridge(settings, "verify", "acme").returncode == 0
