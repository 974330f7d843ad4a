"""What a SCIM target puts on a real server: resources, managers, leavers, rehires,
deletes, refused users, and the PUT road of a server without PATCH."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest

from filebridge.lms.mirror import UNSETTLED
from filebridge.lms.scim import ScimLms
from filebridge.lms.scim.features import Features
from filebridge.lms.scim.send import Change, Sender
from filebridge.lms.scim.store import mapping_of
from filebridge.sql import open_engine
from tests.faultproxy import FaultProxy
from tests.lms.contract import NOW
from tests.lms.plans import person, plan
from tests.lms.scim.conftest import MakeLms, make_target
from tests.scimserver import CUSTOM, ScimServer, start

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _by_external_id(server: ScimServer, url: str) -> dict[str, dict[str, Any]]:
    users = server.users(url)
    ids = [u["externalId"] for u in users]
    assert len(ids) == len(set(ids)), f"duplicate users: {sorted(ids)}"
    return {u["externalId"]: u for u in users}


def _manager(user: dict[str, Any]) -> str | None:
    return (user.get(ENTERPRISE) or {}).get("manager", {}).get("value")


def test_a_person_becomes_a_scim_user(make_lms: MakeLms, scim_server: ScimServer) -> None:
    lms = make_lms()
    lms.apply(plan(new=[person("E1", email="ann@acme.example", first_name="Ann",
                               department="Sales", job_title="Buyer",
                               custom_cost_center="CC-7")]), 1, NOW)
    user = _by_external_id(scim_server, make_lms.url)["E1"]  # type: ignore[attr-defined]
    assert user["userName"] == "ann@acme.example"
    assert user["emails"] == [{"value": "ann@acme.example", "type": "work", "primary": True}]
    assert user["name"] == {"givenName": "Ann"}
    assert user["title"] == "Buyer"
    assert user["active"] is True
    assert user[ENTERPRISE] == {"employeeNumber": "E1", "department": "Sales"}
    assert user[CUSTOM] == {"costCenter": "CC-7"}
    assert lms.users("acme")["scim_id"].tolist() == [user["id"]]


@pytest.mark.parametrize("bulk", [True, False])
def test_managers_resolve_in_any_file_order(make_lms: MakeLms, scim_server: ScimServer,
                                            bulk: bool) -> None:
    # Reports first, their managers later in the file; a chain four deep.
    lms = make_lms(bulk=bulk)
    rows = [person("4", email="d@x.example", manager_id="3"),
            person("3", email="c@x.example", manager_id="2"),
            person("2", email="b@x.example", manager_id="1"),
            person("1", email="a@x.example")]
    result = lms.apply(plan(new=rows), 1, NOW)
    assert result.failed == []
    users = _by_external_id(scim_server, make_lms.url)  # type: ignore[attr-defined]
    for report, boss in (("4", "3"), ("3", "2"), ("2", "1")):
        assert _manager(users[report]) == users[boss]["id"]
    assert _manager(users["1"]) is None
    assert UNSETTLED not in lms.state("acme").snapshot()["fingerprint"].tolist()


def test_a_manager_created_in_a_later_run(make_lms: MakeLms, scim_server: ScimServer) -> None:
    lms = make_lms()
    first = lms.apply(plan(new=[person("2", email="b@x.example", manager_id="1")]), 1, NOW)
    assert [(f.employee_id, f.action, f.reason) for f in first.failed] == [
        ("2", "manager", "unknown-manager")]
    state = lms.state("acme")
    # Not settled: the next plan sees a difference and the blank manager to fill.
    assert state.snapshot()["fingerprint"].tolist() == [UNSETTLED]
    assert state.fetch(["2"], ["manager_id"]).loc["2", "manager_id"] == ""
    second = lms.apply(plan(new=[person("1", email="a@x.example")],
                            changed=[("2", "manager_id", "", "1")], new_fps={"2": 5}), 2, NOW)
    assert second.failed == []
    users = _by_external_id(scim_server, make_lms.url)  # type: ignore[attr-defined]
    assert _manager(users["2"]) == users["1"]["id"]
    assert state.snapshot().set_index("employee_id")["fingerprint"].to_dict() == {"2": 5, "1": 1}


def test_leaver_rehire_and_delete(make_lms: MakeLms, scim_server: ScimServer) -> None:
    lms = make_lms()
    url = make_lms.url  # type: ignore[attr-defined]
    lms.apply(plan(new=[person("1", email="a@x.example"), person("2", email="b@x.example")]),
              1, NOW)
    ids = {e: u["id"] for e, u in _by_external_id(scim_server, url).items()}
    lms.apply(plan(leavers=["1"]), 2, NOW)
    assert _by_external_id(scim_server, url)["1"]["active"] is False
    lms.apply(plan(returners=["1"]), 3, NOW)
    users = _by_external_id(scim_server, url)
    assert users["1"]["active"] is True and users["1"]["id"] == ids["1"]  # the same resource
    p = plan()
    p.deletes = plan(leavers=["2"]).deactivations
    assert lms.apply(p, 4, NOW).counts["delete"] == 1
    assert set(_by_external_id(scim_server, url)) == {"1"}
    assert lms.state("acme").snapshot()["employee_id"].tolist() == ["1"]


def test_rehire_under_a_new_employee_id_keeps_the_account(make_lms: MakeLms,
                                                           scim_server: ScimServer) -> None:
    lms = make_lms()
    lms.apply(plan(new=[person("old", email="a@x.example")]), 1, NOW)
    lms.apply(plan(leavers=["old"]), 2, NOW)
    p = plan(returners=["new"])
    p.rekeys = p.rekeys.__class__({"employee_id": ["new"], "old_employee_id": ["old"],
                                   "line": [2]})
    result = lms.apply(p, 3, NOW)
    assert result.failed == [] and result.counts["rekey"] == 1
    users = _by_external_id(scim_server, make_lms.url)  # type: ignore[attr-defined]
    assert list(users) == ["new"] and users["new"]["active"] is True
    assert users["new"][ENTERPRISE]["employeeNumber"] == "new"
    assert lms.state("acme").snapshot()["employee_id"].tolist() == ["new"]


def test_a_refused_user_is_a_row_error(make_lms: MakeLms, scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    with scim_server.client(url) as http:  # someone created this account by hand
        http.post("Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                 "userName": "taken@x.example"}).raise_for_status()
    lms = make_lms()
    p = plan(new=[person("1", email="a@x.example"), person("2", email="taken@x.example"),
                  person("3", email="c@x.example")])
    result = lms.apply(p, 1, NOW)
    assert [(f.employee_id, f.action, f.reason, f.line) for f in result.failed] == \
        [("2", "create", "uniqueness", 3)]
    assert result.failed[0].detail  # the server's own words
    assert result.counts["create"] == 2
    journal = lms.mirror.journal_rows("acme", 1)
    assert sorted(journal["state"]) == ["confirmed", "confirmed", "failed"]
    # The next run tries again (the file still wants the person), with the same answer.
    again = lms.apply(plan(new=[person("2", email="taken@x.example")]), 2, NOW)
    assert [f.reason for f in again.failed] == ["uniqueness"]
    assert len(scim_server.users(url)) == 3


def test_each_change_is_sent_once_per_run(make_lms: MakeLms, scim_server: ScimServer) -> None:
    lms = make_lms()
    p = plan(new=[person("1", email="a@x.example")])
    lms.apply(p, 7, NOW)
    lms.mirror.forget("acme", ["1"])  # as if the mirror had lost the answer
    again = lms.apply(p, 7, NOW)  # the same run entered again
    assert again.counts["create"] == 0
    assert len(scim_server.users(make_lms.url)) == 1  # type: ignore[attr-defined]


def test_without_patch_changes_go_as_put_with_if_match(scim_server_plain: ScimServer,
                                                       tmp_path: Any) -> None:
    proxy = FaultProxy(scim_server_plain.port)
    url = scim_server_plain.tenant()
    engine = open_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    lms = ScimLms({"acme": make_target(proxy.url(url))}, engine)
    lms.prepare()
    try:
        lms.apply(plan(new=[person("1", email="a@x.example", first_name="A",
                                   custom_cost_center="C1"),
                            person("2", email="b@x.example", manager_id="1"),
                            person("3", email="c@x.example")]), 1, NOW)
        with scim_server_plain.client(url) as http:  # a hand edit the PUT must keep
            one = [u for u in scim_server_plain.users(url) if u["externalId"] == "1"][0]
            edited = {k: v for k, v in one.items() if k != "meta"}
            http.put(f"Users/{one['id']}", json={**edited, "nickName": "Annie"}
                     ).raise_for_status()
        result = lms.apply(plan(changed=[("1", "first_name", "A", "Ann"),
                                         ("1", "custom.cost_center", "C1", "")],
                                new_fps={"1": 9}, leavers=["2"]), 2, NOW)
        assert result.failed == []
        users = {u["externalId"]: u for u in scim_server_plain.users(url)}
        assert users["1"]["name"] == {"givenName": "Ann"}
        assert CUSTOM not in users["1"] and users["1"]["nickName"] == "Annie"
        assert users["2"]["active"] is False
        assert _manager(users["2"]) == users["1"]["id"]
        methods = [m for m, path, _ in proxy.log if "/Users" in path]
        assert "PUT" in methods and "PATCH" not in methods
        assert not any("/Bulk" in path for _, path, _ in proxy.log)
        # The server pages by cursor only, two users a page: verify follows the cursors.
        assert lms.features("acme").cursor
        drift = lms.verify("acme")
        assert drift.clean and drift.listed == 3
        assert sum("cursor=" in path for _, path, _ in proxy.log) >= 2
    finally:
        lms.close()
        engine.dispose()
        proxy.close()


def test_bulk_requests_stay_within_the_servers_limits(make_lms: MakeLms) -> None:
    lms = make_lms()
    features = lms.features("acme")
    small = Features(**{**features.__dict__, "bulk_max_operations": 3,
                        "bulk_max_payload": 2000})
    sender = Sender(lms.session("acme"), small, lms.mirror, "acme", None, NOW, bulk=True,
                    mapping=mapping_of(lms.target("acme")),
                    page_size=100)
    changes = [Change(str(i), "create", "POST", "Users", {"userName": "x" * size}, None)
               for i, size in enumerate([10, 10, 10, 10, 900, 900, 10])]
    chunks = list(sender._chunks(changes))
    assert [len(c) for c in chunks] == [3, 2, 2]


def _bulk_requests(proxy: FaultProxy) -> int:
    return sum(1 for m, path, _ in proxy.log if m == "POST" and path.endswith("/Bulk"))


def test_new_managers_are_referred_to_by_bulk_id(make_lms: MakeLms, proxy: FaultProxy,
                                                 scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    with scim_server.client(url) as http:  # the account "9" would need, made by hand
        http.post("Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                 "userName": "taken@x.example"}).raise_for_status()
    lms = make_lms(proxy.url(url))
    rows = [person("4", email="d@x.example", manager_id="3"),
            person("3", email="c@x.example", manager_id="2"),
            person("2", email="b@x.example", manager_id="1"),
            person("8", email="h@x.example", manager_id="9"),
            person("9", email="taken@x.example"),
            person("1", email="a@x.example")]
    result = lms.apply(plan(new=rows), 1, NOW)
    assert [(f.employee_id, f.action, f.reason) for f in result.failed] == [
        ("9", "create", "uniqueness"), ("8", "manager", "unknown-manager")]
    # One Bulk request for everyone; "8", whose manager was refused, once more without.
    assert _bulk_requests(proxy) == 2
    users = {u["externalId"]: u for u in scim_server.users(url) if "externalId" in u}
    assert len(users) == 5
    for report, boss in (("4", "3"), ("3", "2"), ("2", "1")):
        assert _manager(users[report]) == users[boss]["id"]
    assert "9" not in users and _manager(users["8"]) is None
    snapshot = lms.state("acme").snapshot().set_index("employee_id")["fingerprint"]
    assert snapshot["8"] == UNSETTLED and UNSETTLED not in snapshot.drop("8").tolist()


@pytest.fixture(scope="module")
def scim_server_small_bulk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimServer]:
    """scim2-server taking at most two operations per Bulk request."""
    config = json.loads((files("scim2_server") / "resources" /
                         "default-service-provider-config.json").read_text(encoding="utf-8"))
    config["bulk"]["maxOperations"] = 2
    yield from start(tmp_path_factory.mktemp("scim-small-bulk"), config)


def test_references_across_bulk_requests_become_scim_ids(
        scim_server_small_bulk: ScimServer, tmp_path: Any) -> None:
    server = scim_server_small_bulk
    proxy = FaultProxy(server.port)
    url = server.tenant()
    engine = open_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    lms = ScimLms({"acme": make_target(proxy.url(url))}, engine)
    lms.prepare()
    try:
        rows = [person(str(i), email=f"p{i}@x.example", manager_id=str(i - 1) if i else "")
                for i in reversed(range(5))]
        result = lms.apply(plan(new=rows), 1, NOW)
        assert result.failed == [] and result.counts["create"] == 5
        assert lms.features("acme").bulk_max_operations == 2
        assert _bulk_requests(proxy) == 3  # 2 + 2 + 1 operations
        users = _by_external_id(server, url)
        for i in range(1, 5):
            assert _manager(users[str(i)]) == users[str(i - 1)]["id"]
        assert UNSETTLED not in lms.state("acme").snapshot()["fingerprint"].tolist()
    finally:
        lms.close()
        engine.dispose()
        proxy.close()
