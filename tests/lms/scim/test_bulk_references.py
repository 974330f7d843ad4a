"""A server that keeps ``bulkId:`` references as text instead of resolving them.

Discovery does not say whether a server resolves them, and such a server answers 201
all the same. A proxy in front of the real scim2-server plays one: it hides every
reference from the server (which then stores it as text) and shows the text back as
the reference it was. filebridge reads one person created by reference back after the
Bulk request, finds the reference unresolved, points everyone created by reference at
their manager's SCIM id, and sends no reference to that server again in this process.
"""

from __future__ import annotations

from typing import Any

from filebridge.lms.mirror import UNSETTLED
from tests.faultproxy import FaultProxy, Rule
from tests.lms.contract import NOW
from tests.lms.plans import person, plan
from tests.lms.scim.conftest import MakeLms
from tests.scimserver import ScimServer

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
REFERENCE = b'"bulkId:'


def _manager(user: dict[str, Any]) -> str | None:
    return (user.get(ENTERPRISE) or {}).get("manager", {}).get("value")


def _chain(*ids: str) -> list[dict[str, str]]:
    """People in a management chain, reports first: each managed by the next."""
    return [person(eid, email=f"p{eid}@x.example", manager_id=boss)
            for eid, boss in zip(ids, [*ids[1:], ""], strict=True)]


def _storing_text(proxy: FaultProxy) -> FaultProxy:
    proxy.rewrite_requests.append((REFERENCE, b'"as-text:'))
    proxy.rewrite_answers.append((b'"as-text:', REFERENCE))
    return proxy


def _bulk_bodies(proxy: FaultProxy) -> list[bytes]:
    return [b for m, p, b in proxy.bodies if m == "POST" and p.endswith("/Bulk")]


def _read_backs(proxy: FaultProxy) -> int:
    return sum(1 for m, p, _ in proxy.bodies if m == "GET" and "/Users/" in p)


def _managers_are_scim_ids(server: ScimServer, url: str, rows: list[dict[str, str]]) -> None:
    users = {u["externalId"]: u for u in server.users(url) if "externalId" in u}
    for row in rows:
        boss = row["manager_id"]
        assert _manager(users[row["employee_id"]]) == (users[boss]["id"] if boss else None)


def test_references_stored_as_text_are_fixed_and_not_used_again(
        make_lms: MakeLms, proxy: FaultProxy, scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms(_storing_text(proxy).url(url))
    night1 = _chain("4", "3", "2", "1") + [person("5", email="p5@x.example")]
    result = lms.apply(plan(new=night1), 1, NOW)
    assert result.failed == [] and result.counts["create"] == 5
    # One Bulk request with references, one person read back, then one Bulk request of
    # PATCHes that sets the three managers by SCIM id.
    first, second = _bulk_bodies(proxy)
    assert first.count(REFERENCE) == 3 and second.count(REFERENCE) == 0
    assert second.count(b'"PATCH"') == 3 and _read_backs(proxy) == 1
    _managers_are_scim_ids(scim_server, url, night1)
    fingerprints = lms.state("acme").snapshot()["fingerprint"].tolist()
    assert UNSETTLED not in fingerprints

    # The process remembers: a new chain goes manager first, each by SCIM id, nothing
    # read back, even through a target built anew for the same server.
    proxy.bodies.clear()
    again = make_lms(proxy.url(url))
    night2 = _chain("14", "13", "12", "11")
    result = again.apply(plan(new=night2), 2, NOW)
    assert result.failed == [] and result.counts["create"] == 4
    bodies = _bulk_bodies(proxy)
    assert len(bodies) == 4 and not any(REFERENCE in b for b in bodies)
    assert _read_backs(proxy) == 0
    _managers_are_scim_ids(scim_server, url, night2)


def test_a_server_that_resolves_references_keeps_them(make_lms: MakeLms, proxy: FaultProxy,
                                                      scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms(proxy.url(url))
    rows = _chain("4", "3", "2", "1")
    result = lms.apply(plan(new=rows), 1, NOW)
    assert result.failed == []
    # One request, checked with one read-back, and nothing to fix.
    [bulk] = _bulk_bodies(proxy)
    assert bulk.count(REFERENCE) == 3 and _read_backs(proxy) == 1
    _managers_are_scim_ids(scim_server, url, rows)
    proxy.bodies.clear()
    more = _chain("14", "13")
    assert lms.apply(plan(new=more), 2, NOW).failed == []
    assert [b.count(REFERENCE) for b in _bulk_bodies(proxy)] == [1]


def test_a_refused_read_back_fixes_the_request_but_is_not_remembered(
        make_lms: MakeLms, proxy: FaultProxy, scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    proxy.rules.append(Rule("status", lambda m, p, b: m == "GET" and "/Users/" in p,
                            status=404))
    lms = make_lms(proxy.url(url))
    rows = _chain("4", "3", "2", "1")
    assert lms.apply(plan(new=rows), 1, NOW).failed == []
    # Not known to be resolved: the managers are set by SCIM id all the same.
    first, second = _bulk_bodies(proxy)
    assert first.count(REFERENCE) == 3 and second.count(b'"PATCH"') == 3
    _managers_are_scim_ids(scim_server, url, rows)
    proxy.bodies.clear()
    more = _chain("14", "13")
    assert lms.apply(plan(new=more), 2, NOW).failed == []
    assert [b.count(REFERENCE) for b in _bulk_bodies(proxy)] == [1]
