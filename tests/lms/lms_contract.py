"""``LmsContract``: the promises every ``Lms`` target keeps, inherited by each target's tests.

A subclass provides the fixture ``lms``: an empty, prepared target serving the
connections ``acme`` and ``globex`` (which see each other's people, as connections of one
LMS do), with ``custom.cost_center`` among the fields it keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from filebridge.lms import InvalidFieldName, StalePlan
from filebridge.lms.interface import ApplyResult, Lms
from filebridge.plan.model import Plan
from tests.lms.plans import person, plan

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


class Receipt:
    """The ledger's applied mark, as a target sees it."""

    def __init__(self) -> None:
        self.written: list[tuple[dict[str, int], Any]] = []

    def shares(self, database: object) -> bool:
        return False

    def write(self, counts: Any, within: object | None) -> None:
        self.written.append((dict(counts), within))


class LmsContract:
    """Behaviours of ``Lms``; see the module docstring for the fixture to provide."""

    def apply(self, lms: Lms, p: Plan, run_id: int | None = 1) -> dict[str, int]:
        result = lms.apply(p, run_id, NOW)
        assert result.failed == []
        return result.counts

    def test_is_an_lms(self, lms: Lms) -> None:
        assert isinstance(lms, Lms)
        assert lms.location and "token" not in lms.location

    def test_empty_snapshot_has_typed_columns(self, lms: Lms) -> None:
        snap = lms.state("acme").snapshot()
        assert list(snap.columns) == ["employee_id", "fingerprint", "active"]
        assert len(snap) == 0
        assert str(snap["fingerprint"].dtype) == "int64"
        assert str(snap["active"].dtype) == "bool"

    def test_creates_appear_in_snapshot(self, lms: Lms) -> None:
        counts = self.apply(lms, plan(new=[person("001"), person("002")],
                                      fps=[-(2**63), 2**63 - 1]))
        assert counts["create"] == 2
        snap = lms.state("acme").snapshot().sort_values("employee_id")
        assert snap["employee_id"].tolist() == ["001", "002"]
        assert snap["fingerprint"].tolist() == [-(2**63), 2**63 - 1]
        assert snap["active"].tolist() == [True, True]

    def test_snapshot_is_per_connection(self, lms: Lms) -> None:
        self.apply(lms, plan("acme", new=[person("7", email="a@acme.example")]))
        self.apply(lms, plan("globex", new=[person("8", email="b@globex.example")]))
        assert lms.state("acme").snapshot()["employee_id"].tolist() == ["7"]
        got = lms.state("globex").fetch(["8"], ["email"])
        assert got.loc["8", "email"] == "b@globex.example"

    def test_fetch_returns_fields_of_given_ids_only(self, lms: Lms) -> None:
        self.apply(lms, plan(new=[
            person("1", email="a@x.example", first_name="Zoë", custom_cost_center="C1"),
            person("2", email="b@x.example"), person("3", email="c@x.example")]))
        got = lms.state("acme").fetch(["3", "1", "missing"], ["email", "custom.cost_center"])
        assert got.index.name == "employee_id"
        assert got.index.tolist() == ["3", "1"]
        assert list(got.columns) == ["email", "custom.cost_center"]
        assert got.loc["1"].tolist() == ["a@x.example", "C1"]
        assert got.loc["3"].tolist() == ["c@x.example", ""]

    def test_updates_change_fields_and_fingerprints(self, lms: Lms) -> None:
        self.apply(lms, plan(new=[person("1", email="a@x.example", custom_cost_center="C1"),
                                  person("2", email="b@x.example")]))
        counts = self.apply(lms, plan(changed=[
            ("1", "email", "a@x.example", "new@x.example"),
            ("1", "custom.cost_center", "C1", ""),
            ("2", "custom.cost_center", "", "C9"),
            ("2", "first_name", "", "Bo")], new_fps={"1": 101, "2": 202}), run_id=2)
        assert counts["update"] == 2
        got = lms.state("acme").fetch(["1", "2"], ["email", "first_name", "custom.cost_center"])
        assert got.loc["1"].tolist() == ["new@x.example", "", ""]
        assert got.loc["2"].tolist() == ["b@x.example", "Bo", "C9"]
        snap = lms.state("acme").snapshot().set_index("employee_id")
        assert snap["fingerprint"].to_dict() == {"1": 101, "2": 202}

    def test_deactivate_and_reactivate(self, lms: Lms) -> None:
        self.apply(lms, plan(new=[person("1", email="a@x.example"),
                                  person("2", email="b@x.example")]))
        assert self.apply(lms, plan(leavers=["1"]), run_id=2)["deactivate"] == 1
        snap = lms.state("acme").snapshot().set_index("employee_id")
        assert snap["active"].to_dict() == {"1": False, "2": True}
        assert len(lms.users("acme", active=False)) == 1
        assert lms.state("acme").inactive_since(datetime(2100, 1, 1, tzinfo=UTC)) == {"1"}
        assert self.apply(lms, plan(returners=["1"]), run_id=3)["reactivate"] == 1
        assert lms.state("acme").snapshot()["active"].all()

    def test_existing_ids_spans_connections(self, lms: Lms) -> None:
        self.apply(lms, plan("acme", new=[person("1", email="a@x.example")]))
        self.apply(lms, plan("globex", new=[person("2", email="b@x.example")]))
        assert lms.state("acme").existing_ids(["1", "2", "3"]) == {"1", "2"}
        assert lms.state("acme").existing_ids([]) == set()

    def test_emails_are_looked_up(self, lms: Lms) -> None:
        self.apply(lms, plan("acme", new=[person("1", email="boss@x.example")]))
        self.apply(lms, plan("globex", new=[person("2", email="other@x.example")]))
        state = lms.state("acme")
        holders = state.holders_of_emails(["boss@x.example", "other@x.example", "no@x"])
        assert sorted(holders["employee_id"]) == ["1", "2"]
        assert state.manager_ids_by_email(["boss@x.example"]) == {"boss@x.example": "1"}

    def test_values_are_stored_verbatim(self, lms: Lms) -> None:
        odd = ["'; DROP TABLE users; --", '=HYPERLINK("x")', "000123", "José 中文 \u202e"]
        self.apply(lms, plan(new=[person(str(i), email=f"p{i}@x.example", first_name=v,
                                         custom_cost_center=v) for i, v in enumerate(odd)]))
        got = lms.state("acme").fetch(["0", "1", "2", "3"], ["first_name", "custom.cost_center"])
        assert got["first_name"].tolist() == odd
        assert got["custom.cost_center"].tolist() == odd

    def test_invalid_field_name_is_refused(self, lms: Lms) -> None:
        with pytest.raises(InvalidFieldName):
            lms.apply(plan(changed=[("1", "email = 'x', active", "", "")]), 1, NOW)
        with pytest.raises(InvalidFieldName):
            lms.state("acme").fetch(["1"], ["id"])

    def test_create_of_existing_person_is_stale(self, lms: Lms) -> None:
        self.apply(lms, plan(new=[person("1", email="old@x.example")]))
        with pytest.raises(StalePlan):
            lms.apply(plan(new=[person("2", email="b@x.example"),
                                person("1", email="x@x.example")]), 2, NOW)
        assert lms.state("acme").snapshot()["employee_id"].tolist() == ["1"]

    def test_update_of_missing_person_is_stale(self, lms: Lms) -> None:
        self.apply(lms, plan(new=[person("1", email="a@x.example")]))
        with pytest.raises(StalePlan):
            lms.apply(plan(changed=[("1", "email", "a@x.example", "b@x.example"),
                                    ("9", "email", "", "c@x.example")]), 2, NOW)
        assert lms.state("acme").fetch(["1"], ["email"]).loc["1", "email"] == "a@x.example"

    def test_users_filters(self, lms: Lms) -> None:
        self.apply(lms, plan("acme", new=[person(i, email=f"{i}@x.example") for i in "123"]))
        self.apply(lms, plan("globex", new=[person("4", email="4@x.example")]))
        self.apply(lms, plan("acme", leavers=["2"]), run_id=2)
        assert lms.users("acme")["employee_id"].tolist() == ["1", "2", "3"]
        assert lms.users("acme", active=True)["employee_id"].tolist() == ["1", "3"]
        assert len(lms.users(None)) == 4
        assert len(lms.users(None, limit=2)) == 2

    def test_empty_plan_changes_nothing(self, lms: Lms) -> None:
        counts = self.apply(lms, plan())
        assert counts["create"] == counts["update"] == counts["deactivate"] == 0
        assert lms.state("acme").snapshot().empty

    def test_receipt_is_written_with_the_counts(self, lms: Lms) -> None:
        receipt = Receipt()
        result = lms.apply(plan(new=[person("1", email="a@x.example")]), 1, NOW, receipt)
        assert isinstance(result, ApplyResult)
        assert len(receipt.written) == 1
        assert receipt.written[0][0]["create"] == 1
