"""The LMS contract, cohorts included, against a real Moodle over its REST web services."""

from __future__ import annotations

import pytest

from filebridge.lms.moodle import MoodleLms
from tests.lms.contract import NOW, GroupContract
from tests.lms.moodle.conftest import MakeLms
from tests.lms.plans import person, plan

# One xdist worker starts the session's Moodle and runs every Moodle test.
pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]


class TestMoodleContract(GroupContract):
    @pytest.fixture
    def store(self, make_lms: MakeLms) -> MoodleLms:  # type: ignore[override]
        # The contract's people have no last name; Moodle refuses a blank one.
        return make_lms(name_placeholder="-")

    def test_snapshot_is_per_connection(self, store: MoodleLms) -> None:  # type: ignore[override]
        """A Moodle site has one account per idnumber: a second connection naming the
        same employee id is refused, and the first connection's account is untouched."""
        self.apply(store, plan("acme", new=[person("7", email="a@acme.example")]))
        result = store.apply(plan("globex", new=[person("7", email="b@globex.example")]),
                             2, NOW)
        assert [(f.employee_id, f.reason) for f in result.failed] == [("7", "exists-in-moodle")]
        assert store.state("acme").snapshot()["employee_id"].tolist() == ["7"]
        assert store.state("globex").snapshot().empty
        assert store.state("acme").fetch(["7"], ["email"]).loc["7", "email"] == "a@acme.example"

    def test_values_are_stored_verbatim(self, store: MoodleLms) -> None:  # type: ignore[override]
        """Odd values in names and profile fields (Moodle only takes valid e-mails)."""
        odd = ["'; DROP TABLE users; --", '=HYPERLINK("x")', "000123", "José 中文 \u202e"]
        self.apply(store, plan(new=[person(str(i), email=f"p{i}@x.example", first_name=v,
                                           custom_cost_center=v) for i, v in enumerate(odd)]))
        got = store.state("acme").fetch(["0", "1", "2", "3"], ["first_name", "custom.cost_center"])
        assert got["first_name"].tolist() == odd
        assert got["custom.cost_center"].tolist() == odd

    def test_fetch_many_ids(self, store: MoodleLms) -> None:  # type: ignore[override]
        """950 people (four requests to Moodle, past the mirror's 900-id read chunks);
        the contract's 2,500 would cost minutes of Moodle account creation."""
        people = [person(f"{i:05d}", email=f"{i}@x.example") for i in range(950)]
        self.apply(store, plan(new=people))
        ids = [p["employee_id"] for p in people][::-1]
        got = store.state("acme").fetch(ids, ["email"])
        assert got.index.tolist() == ids
        assert got.loc["00042", "email"] == "42@x.example"
