"""Group rules reaching SCIM Groups on a real scim2-server: ownership, members added by
hand, refusals as row errors, at most once per run, PUT with If-Match, and drift."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from filebridge.lms.interface import ChangeOutcome
from filebridge.lms.scim import ScimLms
from filebridge.plan.model import Plan
from tests import scimserver
from tests.faultproxy import FaultProxy, Rule
from tests.lms.contract import NOW, GroupContract
from tests.lms.plans import person
from tests.lms.scim.conftest import MakeLms
from tests.scimserver import ScimServer, canonical_groups

group_plan = GroupContract.group_plan
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def apply(lms: ScimLms, p: Plan, run_id: int = 1) -> dict[str, int]:
    result = lms.apply(p, run_id, NOW)
    assert result.failed == []
    return result.counts


def ids(server: ScimServer, url: str) -> dict[str, str]:
    """externalId → SCIM id of every User."""
    return {u["externalId"]: u["id"] for u in server.users(url)}


def groups_by_key(server: ScimServer, url: str) -> dict[Any, dict[str, Any]]:
    return {g.get("externalId"): g for g in server.resources(url, "Groups")}


def hand(server: ScimServer, url: str, method: str, path: str,
         body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A change made in the LMS by hand, behind filebridge's back."""
    with server.client(url) as http:
        answer = http.request(method, path, json=body,
                              headers={"Content-Type": "application/scim+json"})
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else {}


def add_by_hand(server: ScimServer, url: str, group_id: str, scim_id: str) -> None:
    hand(server, url, "PATCH", f"Groups/{group_id}", {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": scim_id}]}]})


def test_groups_are_owned_by_their_connection_and_hand_work_is_kept(
        make_lms: MakeLms, scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms()
    made = hand(scim_server, url, "POST", "Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"})
    counts = apply(lms, group_plan([("001", "Sales", "add"), ("002", "Sales", "add"),
                                    ("004", "Sales", "add")],
                                   new=[person("001"), person("002"), person("004")]))
    assert (counts["groups_created"], counts["group_add"]) == (1, 3)
    apply(lms, group_plan([("003", "Sales", "add")], connection="globex", new=[person("003")]), 2)
    users = ids(scim_server, url)
    groups = groups_by_key(scim_server, url)
    acme = groups["filebridge:acme:Sales"]
    assert acme["displayName"] == "Sales"
    assert {m["value"] for m in acme["members"]} == {users["001"], users["002"], users["004"]}
    assert {m["value"] for m in groups["filebridge:globex:Sales"]["members"]} == {users["003"]}
    assert "members" not in groups[None] and groups[None]["id"] == made["id"]  # by hand
    # Someone adds 003 (globex's person) to acme's group in the LMS: never removed.
    add_by_hand(scim_server, url, acme["id"], users["003"])
    counts = apply(lms, group_plan([("002", "Sales", "remove")]), 3)
    assert counts["group_remove"] == 1
    acme = groups_by_key(scim_server, url)["filebridge:acme:Sales"]
    assert {m["value"] for m in acme["members"]} == {users["001"], users["003"], users["004"]}
    assert canonical_groups(scim_server, url)[0] == ("Sales", "", ())


def test_a_member_the_lms_had_by_hand_is_never_removed(make_lms: MakeLms,
                                                     scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms()
    apply(lms, group_plan([("001", "Sales", "add")], new=[person("001"), person("002")]))
    acme = groups_by_key(scim_server, url)["filebridge:acme:Sales"]
    add_by_hand(scim_server, url, acme["id"], ids(scim_server, url)["002"])
    # The rule now wants 002 too: the LMS already has them, so nothing is sent and the
    # membership stays the LMS's own.
    counts = apply(lms, group_plan([("002", "Sales", "add")]), 2)
    assert counts["group_add"] == 0
    assert GroupContract.members(lms) == {("Sales", "001", True), ("Sales", "002", False)}
    listed = lms.groups("acme")
    assert listed[["group", "members", "by_rule", "by_hand"]].values.tolist() == [
        ["Sales", 2, 1, 1]]
    members = lms.group_members("acme", "Sales")
    assert members is not None and members["by_rule"].tolist() == [True, False]
    assert lms.group_members("acme", "Nope") is None
    # A plan asking to remove it (the planner never would) removes nothing.
    apply(lms, group_plan([("002", "Sales", "remove")]), 3)
    acme = groups_by_key(scim_server, url)["filebridge:acme:Sales"]
    assert len(acme["members"]) == 2


def test_each_group_change_is_sent_at_most_once_per_run(
        make_lms: MakeLms, proxy: FaultProxy) -> None:
    lms = make_lms(proxy.url(make_lms.url))  # type: ignore[attr-defined]
    apply(lms, group_plan([], new=[person("001"), person("002")]))
    p = group_plan([("001", "Sales", "add"), ("002", "Sales", "add")])
    apply(lms, p, 7)
    sent = [r for r in proxy.log if "/Groups" in r[1] and r[0] != "GET"]
    assert [r[0] for r in sent] == ["POST", "PATCH"]
    proxy.log.clear()
    again = lms.apply(group_plan([("001", "Sales", "add"), ("002", "Sales", "add")]), 7, NOW)
    assert again.counts["group_add"] == 0
    assert [r for r in proxy.log if "/Groups" in r[1]] == []


def test_a_refused_group_request_is_a_row_error_and_the_next_run_sends_it(
        make_lms: MakeLms, proxy: FaultProxy, scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms(proxy.url(url))
    apply(lms, group_plan([("001", "Sales", "add")], new=[person("001"), person("002")]))
    proxy.rules.append(Rule("status", lambda m, p, b: m == "PATCH" and "/Groups/" in p,
                            status=409))
    proxy.rules.append(Rule("status", lambda m, p, b: m == "POST" and p.endswith("/Groups"),
                            status=400))
    result = lms.apply(group_plan([("002", "Sales", "add"), ("002", "Staff", "add")]), 2, NOW)
    assert sorted(result.failed, key=lambda o: o.reason) == [
        ChangeOutcome("002", "group-add", "failed", "conflict", "injected by the test proxy", 2),
        ChangeOutcome("002", "group-add", "failed", "invalid-value",
                      "injected by the test proxy", 2)]
    assert result.counts["group_add"] == 0
    assert GroupContract.members(lms) == {("Sales", "001", True)}
    journal = lms.groups_mirror.sent_in_run("acme", 2)
    assert journal == {("Sales", "002", "add")}
    again = lms.apply(group_plan([("002", "Sales", "add"), ("002", "Staff", "add")]), 3, NOW)
    assert again.failed == [] and again.counts["group_add"] == 2
    assert GroupContract.members(lms) == {("Sales", "001", True), ("Sales", "002", True),
                                          ("Staff", "002", True)}
    assert len(canonical_groups(scim_server, url)) == 2


def test_without_patch_members_go_by_put_with_if_match(
        scim_server_plain: ScimServer, make_lms: MakeLms) -> None:
    url = scim_server_plain.tenant()
    lms = make_lms(url, bulk=False)
    assert not lms.features("acme").patch and lms.features("acme").groups
    apply(lms, group_plan([("001", "Sales", "add"), ("002", "Sales", "add")],
                          new=[person("001"), person("002"), person("003")]))
    users = ids(scim_server_plain, url)
    group = groups_by_key(scim_server_plain, url)["filebridge:acme:Sales"]
    # 003 put in by hand (a PUT: this server has no PATCH) is kept by filebridge's PUT.
    hand(scim_server_plain, url, "PUT", f"Groups/{group['id']}",
         {**{k: v for k, v in group.items() if k != "meta"},
          "members": [*group["members"], {"value": users["003"]}]})
    apply(lms, group_plan([("001", "Sales", "remove")]), 2)
    assert canonical_groups(scim_server_plain, url) == [
        ("Sales", "filebridge:acme:Sales", ("002", "003"))]


def test_verify_reports_group_drift_and_repair_lets_the_next_run_correct_it(
        make_lms: MakeLms, scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms()
    wanted = [("001", "Sales", "add"), ("002", "Sales", "add"), ("002", "Staff", "add")]
    apply(lms, group_plan(wanted, new=[person("001"), person("002")]))
    clean = canonical_groups(scim_server, url)
    assert lms.verify("acme").clean
    groups = groups_by_key(scim_server, url)
    hand(scim_server, url, "PATCH", f"Groups/{groups['filebridge:acme:Sales']['id']}", {
        "schemas": [PATCH_OP], "Operations": [{
            "op": "remove",
            "path": f'members[value eq "{ids(scim_server, url)["001"]}"]'}]})
    hand(scim_server, url, "DELETE", f"Groups/{groups['filebridge:acme:Staff']['id']}")
    drift = lms.verify("acme")
    assert not drift.clean
    report = drift.to_dict()
    assert report["groups_deleted"] == ["Staff"]
    assert report["members_removed"] == [{"group": "Sales", "employee_id": "001"}]
    lms.repair(drift, NOW)
    assert lms.verify("acme").clean
    # The next night's plan (what the planner makes from the repaired mirror) puts
    # them back, the deleted group made anew under the same key.
    counts = apply(lms, group_plan([("001", "Sales", "add"), ("002", "Staff", "add")]), 2)
    assert (counts["groups_created"], counts["group_add"]) == (1, 2)
    assert canonical_groups(scim_server, url) == clean


@pytest.fixture(scope="module")
def server_without_groups(tmp_path_factory: pytest.TempPathFactory
                          ) -> Iterator[ScimServer]:
    """A scim2-server whose /ResourceTypes has User only."""
    yield from scimserver.start(tmp_path_factory.mktemp("scim-nogroups"), groups=False)


def test_a_server_without_groups_is_asked_and_says_so(
        make_lms: MakeLms, server_without_groups: ScimServer) -> None:
    assert make_lms().keeps_groups("acme")
    lms = make_lms(server_without_groups.tenant())
    assert not lms.keeps_groups("acme")
    assert "Groups no" in lms.features("acme").summary()
