"""The key attribute (externalId, userName or the enterprise employeeNumber) and
``user_name``, against the real server: what is written, how people are found again after
a lost answer or a dead run (many ids per lookup, one per lookup when the server refuses
``or``), and what ``verify`` compares."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from filebridge.lms.scim.store import mapping_of
from filebridge.lms.scim.target import KEY_ATTRIBUTES
from tests.faultproxy import FaultProxy, Rule
from tests.lms.contract import NOW
from tests.lms.plans import person, plan
from tests.lms.scim.conftest import MakeLms
from tests.scimserver import ScimServer

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _people(n: int) -> list[dict[str, str]]:
    # Managers named later in the file than their reports.
    return [person(f"E{i:03d}", email=f"p{i}@x.example", first_name=f"P{i}",
                   manager_id=f"E{i + 1:03d}" if i + 1 < n else "") for i in range(n)]


def _key(user: dict[str, Any], key: str) -> str | None:
    if key == "employeeNumber":
        return (user.get(ENTERPRISE) or {}).get("employeeNumber")
    return user.get(key)


def _by_key(server: ScimServer, url: str, key: str) -> dict[str, dict[str, Any]]:
    users = server.users(url)
    keys = [_key(u, key) for u in users]
    assert len(keys) == len(set(keys)), f"duplicate users: {sorted(map(str, keys))}"
    return {str(k): u for k, u in zip(keys, users, strict=True)}


def _filter(path: str) -> str:
    return parse_qs(urlsplit(path).query).get("filter", [""])[0]


def _lookups(proxy: FaultProxy) -> list[str]:
    return [_filter(p) for m, p, _ in proxy.log if m == "GET" and _filter(p)]


def _refuse_or(method: str, path: str, body: bytes) -> bool:
    return method == "GET" and " or " in _filter(path)


@pytest.mark.parametrize("key", ["userName", "employeeNumber"])
def test_what_a_non_default_key_writes(make_lms: MakeLms, scim_server: ScimServer,
                                       key: str) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms(key=key)
    result = lms.apply(plan(new=_people(3)), 1, NOW)
    assert result.failed == []
    users = _by_key(scim_server, url, key)
    assert sorted(users) == ["E000", "E001", "E002"]
    one = users["E000"]
    assert "externalId" not in one  # left to the LMS
    assert one["emails"][0]["value"] == "p0@x.example"
    assert one["userName"] == ("E000" if key == "userName" else "p0@x.example")
    assert one[ENTERPRISE]["manager"]["value"] == users["E001"]["id"]
    # A rehire under a new employee id moves the key on the same resource.
    lms.apply(plan(leavers=["E000"]), 2, NOW)
    p = plan(returners=["N000"])
    p.rekeys = p.rekeys.__class__({"employee_id": ["N000"], "old_employee_id": ["E000"],
                                   "line": [2]})
    assert lms.apply(p, 3, NOW).failed == []
    users = _by_key(scim_server, url, key)
    assert "E000" not in users and users["N000"]["id"] == one["id"]
    assert users["N000"]["active"] is True
    drift = lms.verify("acme")
    assert drift.clean and drift.listed == 3 and drift.unmanaged == []


def test_user_name_can_be_another_field(make_lms: MakeLms, scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms(user_name="first_name")
    lms.apply(plan(new=_people(2)), 1, NOW)
    users = _by_key(scim_server, url, "externalId")
    assert users["E000"]["userName"] == "P0"
    assert users["E000"]["emails"][0]["value"] == "p0@x.example"
    assert lms.apply(plan(changed=[("E000", "first_name", "P0", "Q0")], new_fps={"E000": 7}),
                     2, NOW).failed == []
    assert _by_key(scim_server, url, "externalId")["E000"]["userName"] == "Q0"
    assert lms.verify("acme").clean


@pytest.mark.parametrize("key", KEY_ATTRIBUTES)
def test_lost_answers_are_looked_up_by_the_key(make_lms: MakeLms, proxy: FaultProxy,
                                               scim_server: ScimServer, key: str) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    # The server creates these people, the answers never arrive.
    proxy.rules.append(Rule("drop_after", lambda m, p, b: m == "POST", times=2))
    lms = make_lms(proxy.url(url), bulk=False, key=key)
    result = lms.apply(plan(new=_people(6)), 1, NOW)
    assert result.failed == [] and result.counts["create"] == 6
    assert len(_by_key(scim_server, url, key)) == 6  # looked up, not created twice
    path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber" \
        if key == "employeeNumber" else key
    assert _lookups(proxy) and all(f.startswith(f"{path} eq ") for f in _lookups(proxy))


def _dead_run(lms: Any, server: ScimServer, url: str, people: list[dict[str, str]],
              created: int) -> None:
    """What a run killed mid-apply leaves: every create journalled as sent, the first
    ``created`` of them made on the server, no answer recorded."""
    lms.mirror.intend("acme", 1, [(p["employee_id"], "create") for p in people], NOW)
    mapping = mapping_of(lms.target("acme"))
    with server.client(url) as http:
        for p in people[:created]:
            body = mapping.resource({**p, "manager_id": ""}, True, None)
            http.post("Users", json=body).raise_for_status()


@pytest.mark.parametrize(("key", "refuse_or"), [("externalId", False),
                                                ("employeeNumber", False),
                                                ("userName", True)])
def test_after_a_dead_run_people_are_looked_up_in_batches(
        make_lms: MakeLms, proxy: FaultProxy, scim_server: ScimServer, key: str,
        refuse_or: bool) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    people = _people(120)
    lms = make_lms(proxy.url(url), key=key)
    _dead_run(lms, scim_server, url, people, created=70)
    if refuse_or:  # a server whose filters have no ``or``: 400 invalidFilter
        proxy.rules.append(Rule("status", _refuse_or, times=None, status=400))
    result = lms.apply(plan(new=people), 2, NOW)
    assert result.failed == [] and result.counts["create"] == 120
    users = _by_key(scim_server, url, key)
    assert sorted(users) == sorted(p["employee_id"] for p in people)
    assert all(u["active"] and u["name"]["givenName"] for u in users.values())
    assert all(users[p["employee_id"]][ENTERPRISE]["manager"]["value"]
               == users[p["manager_id"]]["id"] for p in people if p["manager_id"])
    lookups = _lookups(proxy)
    if refuse_or:  # the first chunk is refused, then one id per lookup
        assert len(lookups) == 1 + 120 and " or " in lookups[0]
        assert not any(" or " in f for f in lookups[1:])
    else:  # 50 ids per lookup (the server's filter maxResults is 1000)
        assert len(lookups) == 3 and all(f.count(" eq ") in (50, 20) for f in lookups)
    assert lms.verify("acme").clean
