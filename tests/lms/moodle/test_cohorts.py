"""Group rules as Moodle cohorts on a real Moodle, end to end through ``filebridge``:
the built-in store's groups, cohorts made by hand left alone, manual members kept, a
SIGKILL right after a cohort change reached Moodle, drift found and repaired, and a
token whose service lacks a cohort function."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from filebridge.lms.moodle import MoodleLms, target_from_config
from filebridge.sql import open_engine
from tests.daemon.conftest import workspace
from tests.lms.contract import NOW, GroupContract
from tests.lms.moodle.conftest import block
from tests.lms.moodle.test_end_to_end import filebridge, on_moodle
from tests.lms.plans import person
from tests.lms.scim.test_groups_e2e import with_rules
from tests.moodlesite import MoodleSite
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
from tests.pipeline.files import variant

# One xdist worker starts the session's Moodle and runs every Moodle test.
pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]

_SERVICE = ("(SELECT id FROM mdl_external_services WHERE shortname = 'integration_ws')")


def listed(settings: Path) -> dict[str, tuple[str, ...]]:
    """``filebridge groups acme``: each group and the members the rules made."""
    done = filebridge(settings, "groups", "acme", "--json")
    assert done.returncode == 0, done.stderr
    out = {}
    for group in json.loads(done.stdout)["groups"]:
        one = filebridge(settings, "groups", "acme", group["group"], "--json")
        out[group["group"]] = tuple(sorted(m["employee_id"]
                                           for m in json.loads(one.stdout)["members"]
                                           if m["by_rule"]))
    return out


def owned(site: MoodleSite) -> dict[str, tuple[str, ...]]:
    """Name → members of the cohorts acme owns in Moodle."""
    return {name: members for key, (name, members) in site.cohorts().items()
            if key.startswith("filebridge:acme:")}


def ws(site: MoodleSite, function: str, **params: object) -> object:
    """A web-service call made by hand in Moodle, behind filebridge's back."""
    from filebridge.lms.moodle import target_from_config
    from filebridge.lms.moodle.client import MoodleClient

    client = MoodleClient(target_from_config({"url": site.url, "token": "unused"}),
                          site.token)
    return client.call(function, params)


def moodle_id(site: MoodleSite, idnumber: str) -> int:
    return int(site.sql("SELECT id FROM mdl_user WHERE idnumber = %s AND deleted = 0",
                        (idnumber,))[0][0])


def test_cohorts_follow_the_rules_survive_a_kill_and_hand_work(
        moodle: MoodleSite, tmp_path: Path) -> None:
    builtin = with_rules(write_workspace(tmp_path / "builtin"))
    for night in (NIGHT1, NIGHT2):
        assert filebridge(builtin, "apply", "acme", str(night)).returncode in (0, 1)
    expected = listed(builtin)
    assert expected
    # A cohort made by hand with the name a rule gives: never touched.
    some = next(iter(expected))
    ws(moodle, "core_cohort_create_cohorts", cohorts=[{
        "categorytype": {"type": "system", "value": ""}, "name": some,
        "idnumber": "hand-made"}])
    settings = with_rules(on_moodle(workspace(tmp_path / "ws"), moodle))
    killed = filebridge(settings, "apply", "acme", str(NIGHT1),
                        FILEBRIDGE_FAILPOINT="group-sent:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert owned(moodle)  # the first cohort change reached Moodle before the kill
    rerun = filebridge(settings, "apply", "acme", str(NIGHT1), "--json")
    assert rerun.returncode == 1 and json.loads(rerun.stdout)["state"] == "applied"
    night2 = filebridge(settings, "apply", "acme", str(NIGHT2), "--json")
    report = json.loads(night2.stdout)
    assert report["state"] == "applied" and report["counts"]["group_remove"] >= 0
    assert owned(moodle) == expected
    assert listed(settings) == expected
    assert moodle.cohorts()["hand-made"] == (some, ())
    assert filebridge(settings, "verify", "acme").returncode == 0
    # Someone adds a person to an owned cohort by hand: kept by later runs.
    cohort_id = int(moodle.sql("SELECT id FROM mdl_cohort WHERE idnumber = %s",
                               (f"filebridge:acme:{some}",))[0][0])
    outsider = next(e for e in (a["idnumber"] for a in moodle.accounts() if a["idnumber"])
                    if e not in expected[some])
    ws(moodle, "core_cohort_add_cohort_members", members=[{
        "cohorttype": {"type": "id", "value": cohort_id},
        "usertype": {"type": "id", "value": moodle_id(moodle, outsider)}}])
    # A member filebridge added is taken out by hand: verify reports it, --repair lets
    # the next import put them back.
    gone = expected[some][0]
    ws(moodle, "core_cohort_delete_cohort_members",
       members=[{"cohortid": cohort_id, "userid": moodle_id(moodle, gone)}])
    drift = filebridge(settings, "verify", "acme", "--json")
    assert drift.returncode == 1, drift.stderr
    assert json.loads(drift.stdout)["members_removed"] == [{"group": some, "employee_id": gone}]
    assert filebridge(settings, "verify", "acme", "--repair").returncode == 1
    night3 = variant(NIGHT2, tmp_path / "acme_employees_2026-11-26.csv",
                     lambda rows: rows[0].update({"Job Title": "Chief Executive"}))
    assert filebridge(settings, "apply", "acme", str(night3), "--force").returncode in (0, 1)
    assert owned(moodle)[some] == tuple(sorted({*expected[some], outsider}))
    assert filebridge(settings, "verify", "acme").returncode == 0


def test_a_service_without_a_cohort_function_is_exit_2_naming_it(
        moodle: MoodleSite, tmp_path: Path) -> None:
    settings = with_rules(on_moodle(workspace(tmp_path / "ws"), moodle))
    moodle.sql("DELETE FROM mdl_external_services_functions WHERE functionname = "
               f"'core_cohort_add_cohort_members' AND externalserviceid = {_SERVICE}")
    try:
        done = filebridge(settings, "apply", "acme", str(NIGHT1))
    finally:
        moodle.sql("INSERT INTO mdl_external_services_functions (externalserviceid, "
                   f"functionname) VALUES ({_SERVICE}, 'core_cohort_add_cohort_members')")
    assert done.returncode == 2, done.stderr
    assert "core_cohort_add_cohort_members" in done.stderr
    assert "moodle/cohort:assign" in done.stderr
    assert moodle.accounts() == [] and moodle.cohorts() == {}


def test_a_partly_refused_cohort_change_fails_only_the_refused_member(
        moodle: MoodleSite, tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    lms = MoodleLms({"acme": target_from_config(block(moodle, name_placeholder="-"))}, engine)
    lms.prepare()
    try:
        made = lms.apply(GroupContract.group_plan(
            [], new=[person("001", email="001@x.example"),
                     person("002", email="002@x.example")]), 1, NOW)
        assert made.failed == []
        # 002's account vanishes from Moodle's tables behind filebridge's back: Moodle
        # adds 001 and warns about 002 in the same call.
        moodle.sql("DELETE FROM mdl_user WHERE idnumber = '002'")
        result = lms.apply(GroupContract.group_plan(
            [("001", "Sales", "add"), ("002", "Sales", "add")]), 2, NOW)
        assert [(o.employee_id, o.action, o.outcome) for o in result.failed] == [
            ("002", "group-add", "failed")]
        assert result.failed[0].reason == "refused" and "not exists" in result.failed[0].detail
        assert result.counts["group_add"] == 1
        assert owned(moodle) == {"Sales": ("001",)}
        assert GroupContract.members(lms) == {("Sales", "001", True)}
    finally:
        lms.close()
        engine.dispose()
