"""The guard: every brake, its threshold kinds, and the cases that must never be held."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from filebridge.lms.memory import MemoryLms
from filebridge.plan.guard import GuardPolicy, History, Hold, Limit, judge
from filebridge.plan.model import FileKind, Plan
from tests.plan.nights import night, plan_file, row

FIELDS = ("employee_id", "email")


def plan_of(kind: FileKind = "snapshot", **sizes: int) -> Plan:
    """A plan touching ``sizes[action]`` people per action (create, update, deactivate...)."""
    p = Plan("c", kind, FIELDS)
    ids = [f"{i:04d}" for i in range(max(sizes.values(), default=0))]
    if sizes.get("create"):
        n = sizes["create"]
        p.creates = pd.DataFrame({"employee_id": ids[:n], "email": "", "fingerprint": 0,
                                  "line": range(2, n + 2)})
    if sizes.get("update"):
        n = sizes["update"]
        p.updates = pd.DataFrame({"employee_id": ids[:n], "field": "email", "old": "",
                                  "new": "e@x.org", "line": range(2, n + 2)})
    for action, name in (("deactivate", "deactivations"), ("reactivate", "reactivations"),
                         ("delete", "deletes")):
        if sizes.get(action):
            n = sizes[action]
            setattr(p, name, pd.DataFrame({"employee_id": ids[:n], "reason": "r", "line": None}))
    return p


def test_default_policy_holds_deactivations_over_five_percent_and_ten() -> None:
    policy = GuardPolicy()
    assert judge(plan_of(deactivate=5), 100, 95, 0, policy) == []
    # 6 of 100 is over 5%, but not over the count of 10.
    assert judge(plan_of(deactivate=6), 100, 94, 0, policy) == []
    assert judge(plan_of(deactivate=11), 100, 89, 0, policy) == [
        Hold("too-many-deactivate", "11 deactivates exceed the threshold "
             "(more than 5% of 100 and more than 10)")]
    # 51 of 10 000 is over the count, but far below 5%.
    assert judge(plan_of(deactivate=51), 10_000, 9949, 0, policy) == []
    assert judge(plan_of(deactivate=501), 10_000, 9499, 0, policy) == [
        Hold("too-many-deactivate", "501 deactivates exceed the threshold "
             "(more than 5% of 10000 and more than 10)")]
    # A 40-person company is not held when 2 people leave.
    assert judge(plan_of(deactivate=2), 40, 38, 0, policy) == []
    assert judge(plan_of(delete=11), 100, 89, 0, policy) == [
        Hold("too-many-delete", "11 deletes exceed the threshold "
             "(more than 5% of 100 and more than 10)")]
    # Creates, updates and reactivations have no limit by default.
    assert judge(plan_of(create=500, update=90, reactivate=90), 100, 600, 0, policy) == []


def test_percent_only_count_only_and_warn() -> None:
    percent = GuardPolicy((("update", Limit(10.0, None, "hold")),))
    assert judge(plan_of(update=10), 100, 100, 0, percent) == []
    assert judge(plan_of(update=11), 100, 100, 0, percent) == [
        Hold("too-many-update", "11 updates exceed the threshold (more than 10% of 100)")]
    count = GuardPolicy((("create", Limit(None, 3, "warn")),))
    assert judge(plan_of(create=3), 100, 103, 0, count) == []
    assert judge(plan_of(create=4), 100, 104, 0, count) == [
        Hold("too-many-create", "4 creates exceed the threshold (more than 3)", "warn")]
    off = GuardPolicy((("deactivate", Limit(None, None)),))
    assert judge(plan_of(deactivate=99), 100, 1, 0, off) == []


def test_thresholds_from_config() -> None:
    assert GuardPolicy.from_config({}) == GuardPolicy()
    policy = GuardPolicy.from_config({
        "deactivate": {"percent": None, "reaction": "warn"},
        "delete": None,
        "reactivate": {"count": 7},
        "rejected_percent": 5,
        "row_drop_percent": None,
    })
    assert dict(policy.limits) == {
        "deactivate": Limit(None, 10, "warn"),  # explicit null switches percent off
        "delete": Limit(5.0, 10, "hold"),  # a null block keeps the defaults
        "reactivate": Limit(None, 7, "hold"),
    }
    assert policy.max_rejected_percent == 5.0 and policy.max_row_drop_percent is None
    assert GuardPolicy.from_config({"row_drop_percent": 25}).max_row_drop_percent == 25.0


def test_first_import_into_an_empty_lms_is_not_a_mass_change() -> None:
    lms = MemoryLms()
    planned, _ = plan_file(lms, [row(str(i)) for i in range(200)])
    assert planned.managed == 0 and planned.plan.counts()["create"] == 200
    strict = GuardPolicy((("create", Limit(1.0, 1, "hold")),))
    assert judge(planned.plan, planned.managed, 200, 0, strict) == []


def test_empty_snapshot_against_a_non_empty_lms_is_held() -> None:
    lms = MemoryLms()
    night(lms, [row("1"), row("2"), row("3")])
    planned, _ = plan_file(lms, [])
    assert planned.managed == 3
    assert planned.plan.deactivations["employee_id"].tolist() == ["1", "2", "3"]
    assert judge(planned.plan, planned.managed, 0, 0, GuardPolicy()) == [
        Hold("empty-snapshot", "the file has no rows but 3 people are managed by this "
             "connection; nobody is deactivated"),
    ]
    # An empty snapshot against an empty LMS changes nothing and is not held.
    empty, _ = plan_file(MemoryLms(), [])
    assert empty.plan.is_empty() and judge(empty.plan, 0, 0, 0, GuardPolicy()) == []


def test_a_plan_that_changes_nothing_is_never_held() -> None:
    history = History(last_snapshot_rows=100, last_export_time=datetime(2026, 2, 2, tzinfo=UTC),
                      export_time=datetime(2026, 2, 1, tzinfo=UTC))
    assert judge(plan_of(), 100, 0, 0, GuardPolicy(), history) == []


def test_rejected_rows_over_the_limit_hold_a_snapshot_only() -> None:
    policy = GuardPolicy()
    p = plan_of(update=1)
    assert judge(p, 100, 100, 2, policy) == []
    assert judge(p, 100, 100, 3, policy) == [
        Hold("too-many-rejected", "3 of 100 rows (3.0%) were rejected, more than 2%")]
    assert judge(plan_of("delta", update=1), 100, 100, 50, policy) == []
    assert judge(p, 0, 100, 50, policy) == []  # first import: nothing to protect
    loose = GuardPolicy.from_config({"rejected_percent": 10})
    assert judge(p, 100, 100, 10, loose) == []
    assert judge(p, 100, 100, 11, loose) == [
        Hold("too-many-rejected", "11 of 100 rows (11.0%) were rejected, more than 10%")]


def test_row_drop_against_the_last_applied_snapshot() -> None:
    policy = GuardPolicy()
    history = History(last_snapshot_rows=1000)
    p = plan_of(update=1)
    assert judge(p, 1000, 900, 0, policy, history) == []
    assert judge(p, 1000, 899, 0, policy, history) == [
        Hold("row-count-drop", "the file has 899 rows, 10.1% fewer than the 1000 of the last "
             "applied snapshot (more than 10%)")]
    assert judge(p, 1000, 1200, 0, policy, history) == []  # growth is fine
    assert judge(plan_of("delta", update=1), 1000, 5, 0, policy, history) == []
    assert judge(p, 1000, 5, 0, GuardPolicy.from_config({"row_drop_percent": None}),
                 history) == []
    assert judge(p, 1000, 899, 0, policy, History()) == []  # no earlier snapshot


def test_a_file_older_than_one_already_applied_is_stale() -> None:
    old, new = datetime(2026, 2, 1, 2, 0, tzinfo=UTC), datetime(2026, 2, 2, 2, 0, tzinfo=UTC)
    p = plan_of(update=1)
    history = History(last_export_time=new, last_file="hr-0202.csv", export_time=old)
    holds = judge(p, 100, 100, 0, GuardPolicy(), history)
    assert holds == [Hold(
        "stale-file", "this file was exported 2026-02-01T02:00:00+00:00, before hr-0202.csv "
        "(2026-02-02T02:00:00+00:00) that is already applied; applying it would undo newer "
        "changes")]
    assert holds[0].to_dict() == {"code": "stale-file", "message": holds[0].message,
                                  "reaction": "hold"}
    same = History(last_export_time=new, export_time=new)
    assert judge(p, 100, 100, 0, GuardPolicy(), same) == []
    unknown = History(last_export_time=new)  # this file has no export time
    assert judge(p, 100, 100, 0, GuardPolicy(), unknown) == []
    assert "before a file (" in judge(p, 100, 100, 0, GuardPolicy(), History(
        last_export_time=new, export_time=old))[0].message
