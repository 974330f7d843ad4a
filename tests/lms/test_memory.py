"""The in-memory LMS keeps the same contract as the built-in store (it is the reference
the plan's tests run against), and its reads answer like the built-in store's."""

from __future__ import annotations

import pytest

from filebridge.lms import StalePlan
from filebridge.lms.memory import MemoryLms
from tests.lms.contract import NOW, GroupContract
from tests.lms.plans import person, plan


class TestMemoryLms(GroupContract):
    """``MemoryLms`` keeps the store contract."""

    @pytest.fixture
    def store(self) -> MemoryLms:
        return MemoryLms()


def test_a_failed_apply_leaves_nothing_behind() -> None:
    lms = MemoryLms()
    lms.apply(plan(new=[person("1", email="a@x")]), 1, NOW)
    with pytest.raises(StalePlan):
        # The create of 2 comes first in the plan; the stale update of 9 undoes it too.
        lms.apply(plan(new=[person("2", email="b@x")], changed=[("9", "email", "", "c@x")]),
                  2, NOW)
    assert lms.state("acme").snapshot()["employee_id"].tolist() == ["1"]
    assert [run for run, _ in lms.applied] == [1]


def test_email_lookups_prefer_this_connection_and_active_people() -> None:
    lms = MemoryLms()
    lms.apply(plan("acme", new=[person("1", email="boss@x")]), 1, NOW)
    lms.apply(plan("globex", new=[person("9", email="boss@x")]), 2, NOW)
    lms.add_unmanaged("u1", email="shared@x")
    lms.add_unmanaged("u2", email="shared@x")
    state = lms.state("acme")
    assert state.manager_ids_by_email(["boss@x", "shared@x", "nobody@x"]) == {"boss@x": "1"}
    holders = state.holders_of_emails(["boss@x"]).sort_values("employee_id")
    assert holders[["managed_by", "employee_id"]].values.tolist() == [["acme", "1"],
                                                                      ["globex", "9"]]
    assert lms.state("globex").manager_ids_by_email(["boss@x"]) == {"boss@x": "9"}


def test_inactive_since_counts_from_the_deactivation() -> None:
    lms = MemoryLms()
    lms.apply(plan(new=[person("1"), person("2")]), 1, NOW)
    lms.apply(plan(leavers=["1"]), 2, NOW)
    assert lms.state("acme").inactive_since(NOW) == frozenset({"1"})
    assert lms.state("acme").inactive_since(NOW.replace(year=2025)) == frozenset()
