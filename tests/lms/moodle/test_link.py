"""`filebridge link` on Moodle: accounts made by hand (or by Moodle's upload tool) are
adopted by idnumber or e-mail into the connection's mirror after confirmation; the next
import brings them in line without duplicating anyone, and an account the file does not
name is never touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from filebridge.lms.moodle import target_from_config
from filebridge.lms.moodle.client import MoodleClient
from tests.daemon.conftest import workspace
from tests.lms.moodle.conftest import block
from tests.lms.moodle.test_end_to_end import builtin_people, filebridge, moodle_people, on_moodle
from tests.moodlesite import MoodleSite
from tests.pipeline.conftest import NIGHT1

# One xdist worker starts the session's Moodle and runs every Moodle test.
pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]


def _by_hand(moodle: MoodleSite, **user: str) -> dict[str, Any]:
    client = MoodleClient(target_from_config(block(moodle)), moodle.token)
    made = client.call("core_user_create_users", {"users": [{
        "createpassword": 1, "auth": "manual", "lastname": "Hand", **user}]})
    return dict(made[0])


def test_link_adopts_by_idnumber_then_by_email(moodle: MoodleSite, tmp_path: Path) -> None:
    settings = on_moodle(workspace(tmp_path / "ws"), moodle)
    a = _by_hand(moodle, username="hand.a", idnumber="001001", firstname="Old",
                 email="tomas.nowak1@acme.example")
    c = _by_hand(moodle, username="hand.c", firstname="Priya", email="priya.silva2@acme.example")
    b = _by_hand(moodle, username="hand.b", idnumber="X-999", firstname="Nobody",
                 email="nobody@x.example")
    untouched = {k: v for k, v in moodle_people(moodle).items() if k == "X-999"}

    shown = filebridge(settings, "link", "acme", str(NIGHT1), "--by", "employee_id", "--json")
    assert shown.returncode == 1, shown.stderr  # not confirmed: nothing adopted
    listed = json.loads(shown.stdout)["plan"]["adoptions"]
    assert [(r["user_id"], r["employee_id"], r["note"]) for r in listed] == [
        (a["id"], "001001", "")]
    done = filebridge(settings, "link", "acme", str(NIGHT1), "--by", "employee_id", "--yes",
                      "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["adopt"] == 1
    by_email = filebridge(settings, "link", "acme", str(NIGHT1), "--yes", "--json")
    report = json.loads(by_email.stdout)
    # Account a is managed now and no longer offered; c matches 001002 by e-mail.
    assert [(r["user_id"], r["employee_id"]) for r in report["plan"]["adoptions"]] == [
        (c["id"], "001002")]
    assert report["counts"]["adopt"] == 1

    # Two people are managed now, so the file's 3% rejected rows would hold it as any
    # night: --force, as an admin would after reading the plan.
    night = filebridge(settings, "apply", "acme", str(NIGHT1), "--force", "--json")
    assert night.returncode == 1, night.stderr  # the sample's rejected rows
    assert json.loads(night.stdout)["state"] == "applied"
    accounts = {x["id"]: x for x in moodle.accounts()}
    # The adopted accounts now carry the file's values (idnumber, username, names) ...
    assert (accounts[a["id"]]["firstname"], accounts[a["id"]]["username"]) == (
        "Tomás", "tomas.nowak1@acme.example")
    assert accounts[c["id"]]["idnumber"] == "001002"
    # ... nobody got a second account, and the account the file does not name is as it was.
    got = moodle_people(moodle)
    assert {k: v for k, v in got.items() if k == "X-999"} == untouched
    assert accounts[b["id"]]["username"] == "hand.b"
    assert {k: v for k, v in got.items() if k != "X-999"} == builtin_people(tmp_path, NIGHT1)
    assert filebridge(settings, "verify", "acme").returncode == 0
