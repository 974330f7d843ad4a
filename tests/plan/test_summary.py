"""A plan's summary: typed rows, lists cut at the limit, the run report's ``plan`` keys."""

from __future__ import annotations

from filebridge.plan.summary import FieldChange, PlanSummary, StateChange, summarize
from tests.lms.plans import person, plan


def test_rows_are_typed_values_with_python_lines() -> None:
    summary = summarize(plan(new=[person("7", email="a@x.example")],
                             changed=[("3", "job_title", "Clerk", "Lead")], leavers=["9"]))
    assert summary.updates == (FieldChange("3", "job_title", "Clerk", "Lead", 2),)
    assert summary.deactivations == (StateChange("9", "test", None),)
    assert dict(summary.creates[0])["employee_id"] == "7"
    assert type(summary.creates[0]["line"]) is int
    assert summary.counts["create"] == 1 and not summary.truncated


def test_lists_are_cut_at_the_limit_and_say_so() -> None:
    many = plan(leavers=[str(n) for n in range(5)])
    cut = summarize(many, limit=3)
    assert len(cut.deactivations) == 3 and cut.truncated
    assert cut.counts["deactivate"] == 5  # counts are never cut
    whole = summarize(many, limit=None)
    assert len(whole.deactivations) == 5 and not whole.truncated


def test_to_dict_has_the_documented_keys_and_is_the_plans_json() -> None:
    the_plan = plan(changed=[("3", "email", "a@x.example", "b@x.example")])
    doc = summarize(the_plan).to_dict()
    assert set(doc) == {"connection", "file_kind", "counts", "creates", "updates", "drift",
                        "deactivations", "reactivations", "deletes", "rekeys", "skipped", "org",
                        "org_counts", "groups", "group_drift", "truncated"}
    assert doc["updates"] == [{"employee_id": "3", "field": "email", "old": "a@x.example",
                               "new": "b@x.example", "line": 2}]
    assert doc == the_plan.to_dict()
    assert PlanSummary("acme", "delta", {}).to_dict()["creates"] == []
