"""A misbehaving network between filebridge and a real SCIM server: 429 storms, 500s,
answers slower than the deadline, connections dropped mid-run, a refused token.

Each fault ends either in a run that converged anyway or in a ``Transient`` error with
what was done recorded, and a plain rerun then gives exactly a clean run's LMS."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from filebridge.errors import Terminal, Transient
from filebridge.lms.scim import ScimLms, ScimRefused, ScimUnavailable
from filebridge.lms.scim.target import Retry, Timeouts
from filebridge.sql import open_engine
from tests.faultproxy import FaultProxy, Rule, writes
from tests.lms.contract import NOW
from tests.lms.plans import person, plan
from tests.lms.scim.conftest import MakeLms, make_target
from tests.scimserver import ScimServer, canonical


def _people(n: int) -> list[dict[str, str]]:
    # Managers named later in the file than their reports.
    return [person(f"{i:03d}", email=f"p{i}@x.example",
                   manager_id=f"{i + 1:03d}" if i + 1 < n else "") for i in range(n)]


def _clean(scim_server: ScimServer, folder: Path, n: int) -> list[tuple[object, ...]]:
    """The listing one uninterrupted run of the same plan leaves on a fresh tenant."""
    url = scim_server.tenant()
    engine = open_engine(f"sqlite:///{folder / 'clean.sqlite'}")
    lms = ScimLms({"acme": make_target(url)}, engine)
    lms.prepare()
    lms.apply(plan(new=_people(n)), 1, NOW)
    lms.close()
    engine.dispose()
    return canonical(scim_server.users(url))


def test_a_429_storm_is_waited_out(make_lms: MakeLms, proxy: FaultProxy,
                                   scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    proxy.rules.append(Rule("status", writes, times=3, status=429,
                            headers={"Retry-After": "1"}))
    lms = make_lms(proxy.url(url))
    started = time.monotonic()
    result = lms.apply(plan(new=_people(5)), 1, NOW)
    assert result.failed == [] and result.counts["create"] == 5
    assert time.monotonic() - started >= 2.5  # three answers each asked for a second
    assert lms.session("acme").retries == 3
    assert len(scim_server.users(url)) == 5


def test_500s_are_retried_and_creates_looked_up_first(make_lms: MakeLms, proxy: FaultProxy,
                                                      scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms(proxy.url(url))
    lms.apply(plan(new=_people(4)), 1, NOW)
    proxy.rules.append(Rule("status", writes, times=2, status=500))
    result = lms.apply(plan(changed=[("000", "first_name", "", "Zed")], new_fps={"000": 9},
                            leavers=["001"]), 2, NOW)
    assert result.failed == []
    users = {u["externalId"]: u for u in scim_server.users(url)}
    assert users["000"]["name"]["givenName"] == "Zed" and users["001"]["active"] is False


def test_endless_500s_fail_the_run_transiently_then_a_rerun_converges(
        make_lms: MakeLms, proxy: FaultProxy, scim_server: ScimServer, tmp_path: Path) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    clean = _clean(scim_server, tmp_path, 30)
    lms = make_lms(proxy.url(url), bulk=False)
    proxy.rules.append(Rule("status", writes, times=None, status=503, after=12))
    with pytest.raises(ScimUnavailable) as caught:
        lms.apply(plan(new=_people(30)), 1, NOW)
    assert isinstance(caught.value, Transient) and caught.value.code == "scim-unavailable"
    assert caught.value.done >= 10  # what was confirmed before is recorded
    assert len(lms.state("acme").snapshot()) == caught.value.done
    proxy.rules.clear()
    # The pipeline plans again from the mirror: only the rest is created.
    left = [p for p in _people(30) if p["employee_id"] not in
            set(lms.state("acme").snapshot()["employee_id"])]
    result = lms.apply(plan(new=left), 2, NOW)
    assert result.failed == []
    assert canonical(scim_server.users(url)) == clean


def test_an_answer_slower_than_the_deadline(make_lms: MakeLms, proxy: FaultProxy) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    proxy.rules.append(Rule("slow", times=None, seconds=3))
    lms = make_lms(proxy.url(url), timeouts=Timeouts(connect=2, read=0.5, run=4),
                   retry=Retry(attempts=3, backoff_seconds=0.05, max_wait_seconds=1))
    started = time.monotonic()
    with pytest.raises(ScimUnavailable) as caught:
        lms.apply(plan(new=_people(2)), 1, NOW)
    assert time.monotonic() - started < 8  # the server would hold each answer 3 s
    assert "no answer within" in caught.value.reason


def test_a_whole_run_has_a_deadline(make_lms: MakeLms, proxy: FaultProxy) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    proxy.rules.append(Rule("slow", writes, times=None, seconds=0.4))
    lms = make_lms(proxy.url(url), bulk=False,
                   timeouts=Timeouts(connect=2, read=5, run=2))
    started = time.monotonic()
    with pytest.raises(ScimUnavailable) as caught:
        lms.apply(plan(new=_people(40)), 1, NOW)
    # Without the deadline the forty slow creates alone take 16 s; the margin is for a
    # busy machine (the request in flight may finish its own wait).
    assert time.monotonic() - started < 7
    assert "deadline" in caught.value.reason


@pytest.mark.parametrize("bulk", [True, False])
def test_a_connection_dropped_after_the_server_acted(make_lms: MakeLms, proxy: FaultProxy,
                                                     scim_server: ScimServer,
                                                     tmp_path: Path, bulk: bool) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    clean = _clean(scim_server, tmp_path, 12)
    # The server creates the people, the answer never arrives.
    proxy.rules.append(Rule("drop_after", lambda m, p, b: m == "POST", times=2))
    lms = make_lms(proxy.url(url), bulk=bulk)
    result = lms.apply(plan(new=_people(12)), 1, NOW)
    assert result.failed == [] and result.counts["create"] == 12
    assert canonical(scim_server.users(url)) == clean  # looked up, not created twice
    assert any(a == "drop_after" for _, _, a in proxy.log)


def test_a_connection_dropped_before_a_patch_is_retried(make_lms: MakeLms, proxy: FaultProxy,
                                                        scim_server: ScimServer) -> None:
    url = make_lms.url  # type: ignore[attr-defined]
    lms = make_lms(proxy.url(url), bulk=False)
    lms.apply(plan(new=_people(3)), 1, NOW)
    proxy.rules.append(Rule("drop_before", lambda m, p, b: m == "PATCH", times=1))
    result = lms.apply(plan(leavers=["000", "001"]), 2, NOW)
    assert result.failed == [] and result.counts["deactivate"] == 2
    assert sorted(u["active"] for u in scim_server.users(url)) == [False, False, True]


def test_a_refused_token_names_the_connection(make_lms: MakeLms,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRONG_SCIM_TOKEN", "not-the-token")
    lms = make_lms(token="${env:WRONG_SCIM_TOKEN}")
    with pytest.raises(ScimRefused) as caught:
        lms.apply(plan(new=_people(1)), 1, NOW)
    assert isinstance(caught.value, Terminal) and caught.value.code == "scim-token-refused"
    assert caught.value.status == 401 and "acme" in str(caught.value)
    assert "not-the-token" not in str(caught.value)
