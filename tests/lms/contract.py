"""``StoreContract``: the promises every LMS target keeps, inherited by each target's tests.

A subclass provides one fixture, ``store``: an empty target, prepared, implementing
``filebridge.lms.Lms``. Everything here goes through that interface only. The people
have valid, distinct e-mail addresses, as an external LMS requires.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from filebridge.lms import InvalidFieldName, Lms, StalePlan
from filebridge.lms.mirror import CHUNK as MIRROR_CHUNK
from filebridge.lms.sqlstate import CHUNK as SQL_CHUNK
from filebridge.plan.model import GROUP_COLUMNS, ORG_COLUMNS, Plan
from filebridge.plan.state import MEMBERSHIP_COLUMNS
from tests.lms.plans import person, plan

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def someone(eid: str, **values: str) -> dict[str, str]:
    """A test person with a work e-mail of their own (a real LMS insists on one)."""
    return person(eid, **{"email": f"p{eid}@x.example", **values})


class Receipt:
    """The ledger's applied mark as a target sees it, recording what it is given."""

    def __init__(self) -> None:
        self.written: list[tuple[dict[str, int], object | None, list[Any]]] = []
        self.intents: list[tuple[str, dict[str, int]]] = []
        self.checks = 0

    def shares(self, database: object) -> bool:
        return False

    def check(self) -> None:
        self.checks += 1

    def intend(self, plan_digest: str, counts: Any) -> None:
        assert not self.written, "the intent comes before the applied mark"
        self.intents.append((plan_digest, dict(counts)))

    def write(self, counts: Any, within: object | None, failed: Any = ()) -> None:
        self.written.append((dict(counts), within, list(failed)))


class StoreContract:
    """Behaviours of ``Lms``; see the module docstring for the fixture to provide."""

    def apply(self, store: Lms, p: Plan, run_id: int | None = 1) -> dict[str, int]:
        result = store.apply(p, run_id, NOW)
        assert result.failed == []
        return result.counts

    def test_is_an_lms(self, store: Lms) -> None:
        assert isinstance(store, Lms)
        assert store.location

    def test_empty_snapshot_has_typed_columns(self, store: Lms) -> None:
        snap = store.state("acme").snapshot()
        assert list(snap.columns) == ["employee_id", "fingerprint", "active"]
        assert len(snap) == 0
        assert str(snap["fingerprint"].dtype) == "int64"
        assert str(snap["active"].dtype) == "bool"

    def test_creates_appear_in_snapshot(self, store: Lms) -> None:
        counts = self.apply(
            store, plan(new=[someone("001"), someone("002")], fps=[-(2**63), 2**63 - 1])
        )
        assert counts["create"] == 2
        snap = store.state("acme").snapshot().sort_values("employee_id")
        assert snap["employee_id"].tolist() == ["001", "002"]
        assert snap["fingerprint"].tolist() == [-(2**63), 2**63 - 1]
        assert snap["active"].tolist() == [True, True]
        assert str(snap["fingerprint"].dtype) == "int64"

    def test_snapshot_is_per_connection(self, store: Lms) -> None:
        self.apply(store, plan("acme", new=[person("7", email="a@acme.example")]))
        self.apply(store, plan("globex", new=[person("7", email="b@globex.example")]))
        assert store.state("acme").snapshot()["employee_id"].tolist() == ["7"]
        assert store.state("initech").snapshot().empty
        assert store.state("globex").fetch(["7"], ["email"]).loc["7", "email"] == "b@globex.example"

    def test_fetch_returns_fields_of_given_ids_only(
        self, store: Lms
    ) -> None:
        self.apply(
            store,
            plan(
                new=[
                    person("1", email="a@x.example", first_name="Zoë", custom_cost_center="C1"),
                    person("2", email="b@x.example"),
                    person("3", email="c@x.example"),
                ]
            ),
        )
        got = store.state("acme").fetch(["3", "1", "missing"], ["email", "custom.cost_center"])
        assert got.index.name == "employee_id"
        assert got.index.tolist() == ["3", "1"]
        assert list(got.columns) == ["email", "custom.cost_center"]
        assert got.loc["1"].tolist() == ["a@x.example", "C1"]
        assert got.loc["3"].tolist() == ["c@x.example", ""]

    def test_fetch_many_ids(self, store: Lms) -> None:
        # Three IN lists of every implementation: each chunk boundary crossed. No more:
        # a target without Bulk pays one request per person to set this up.
        many = 2 * max(SQL_CHUNK, MIRROR_CHUNK) + 1
        people = [person(f"{i:05d}", email=f"{i}@x.example") for i in range(many)]
        self.apply(store, plan(new=people))
        ids = [p["employee_id"] for p in people][::-1]
        got = store.state("acme").fetch(ids, ["email"])
        assert got.index.tolist() == ids
        assert got.loc["00042", "email"] == "42@x.example"

    def test_updates_change_fields_and_fingerprints(
        self, store: Lms
    ) -> None:
        self.apply(
            store,
            plan(new=[person("1", email="a@x.example", custom_cost_center="C1"),
                      person("2", email="b@x.example")]),
        )
        counts = self.apply(
            store,
            plan(
                changed=[
                    ("1", "email", "a@x.example", "new@x.example"),
                    ("1", "custom.cost_center", "C1", ""),
                    ("2", "custom.cost_center", "", "C9"),
                    ("2", "first_name", "", "Bo"),
                ],
                new_fps={"1": 101, "2": 202},
            ),
        )
        assert counts["update"] == 2
        got = store.state("acme").fetch(["1", "2"], ["email", "first_name", "custom.cost_center"])
        assert got.loc["1"].tolist() == ["new@x.example", "", ""]
        assert got.loc["2"].tolist() == ["b@x.example", "Bo", "C9"]
        snap = store.state("acme").snapshot().set_index("employee_id")
        assert snap["fingerprint"].to_dict() == {"1": 101, "2": 202}

    def test_deactivate_and_reactivate(self, store: Lms) -> None:
        self.apply(store, plan(new=[someone("1"), someone("2")]))
        assert self.apply(store, plan(leavers=["1"]))["deactivate"] == 1
        snap = store.state("acme").snapshot().set_index("employee_id")
        assert snap["active"].to_dict() == {"1": False, "2": True}
        assert len(store.users("acme", active=False)) == 1
        assert self.apply(store, plan(returners=["1"]))["reactivate"] == 1
        assert store.state("acme").snapshot()["active"].all()

    def test_existing_employee_ids_spans_connections(
        self, store: Lms
    ) -> None:
        self.apply(store, plan("acme", new=[someone("1")]))
        self.apply(store, plan("globex", new=[someone("2")]))
        assert store.state("acme").existing_ids(["1", "2", "3"]) == {"1", "2"}
        assert store.state("acme").existing_ids([]) == set()

    def test_values_are_stored_verbatim(self, store: Lms) -> None:
        odd = ["'; DROP TABLE users; --", '=HYPERLINK("x")', "000123", "José 中文 \u202e"]
        self.apply(
            store,
            plan(new=[person(str(i), email=v, custom_cost_center=v) for i, v in enumerate(odd)]),
        )
        got = store.state("acme").fetch(["0", "1", "2", "3"], ["email", "custom.cost_center"])
        assert got["email"].tolist() == odd
        assert got["custom.cost_center"].tolist() == odd

    def test_invalid_field_name_is_refused(self, store: Lms) -> None:
        with pytest.raises(InvalidFieldName):
            self.apply(store, plan(changed=[("1", "email = 'x', active", "", "")]))
        with pytest.raises(InvalidFieldName):
            store.state("acme").fetch(["1"], ["id"])

    def test_create_of_existing_person_is_stale(
        self, store: Lms
    ) -> None:
        self.apply(store, plan(new=[person("1", email="old@x.example")]))
        with pytest.raises(StalePlan):
            self.apply(store, plan(new=[someone("2"), person("1", email="x@x.example")]))
        assert store.state("acme").snapshot()["employee_id"].tolist() == ["1"]

    def test_update_of_missing_person_is_stale(
        self, store: Lms
    ) -> None:
        self.apply(store, plan(new=[person("1", email="a@x.example")]))
        with pytest.raises(StalePlan):
            self.apply(
                store,
                plan(changed=[("1", "email", "a@x.example", "b@x.example"),
                              ("9", "email", "", "c@x.example")]),
            )
        assert store.state("acme").fetch(["1"], ["email"]).loc["1", "email"] == "a@x.example"

    def test_users_filters(self, store: Lms) -> None:
        self.apply(store, plan("acme", new=[someone("1"), someone("2"), someone("3")]))
        self.apply(store, plan("globex", new=[someone("4")]))
        self.apply(store, plan("acme", leavers=["2"]))
        assert store.users("acme")["employee_id"].tolist() == ["1", "2", "3"]
        assert store.users("acme", active=True)["employee_id"].tolist() == ["1", "3"]
        assert len(store.users(None)) == 4
        assert len(store.users(None, limit=2)) == 2

    def test_planned_org_changes_touch_only_this_connections_unused_org(
        self, store: Lms
    ) -> None:
        def org(p: Plan, *rows: tuple[str, ...]) -> Plan:
            p.org = pd.DataFrame(list(rows), columns=list(ORG_COLUMNS), dtype=object)
            p.org_planned = True
            return p

        if not store.capabilities.org:
            # Departments and job titles are plain person attributes on such a target: org
            # rows (the pipeline plans none for it) change nothing and fail nothing.
            counts = self.apply(store, org(plan("acme", new=[someone("1", department_code="D1")]),
                                           ("department", "create", "D1", "One", "", "", "")))
            assert counts["create"] == 1
            assert not any(v for k, v in counts.items() if k.startswith(("departments", "job")))
            return

        self.apply(store, org(plan("acme", new=[person("1", department_code="D1",
                                                       job_title="Chef")]),
                              ("department", "create", "D1", "One", "", "", ""),
                              ("department", "create", "D2", "Two", "D1", "", ""),
                              ("job_title", "create", "Chef", "Chef", "", "", ""),
                              ("job_title", "create", "Cook", "Cook", "", "", "")))
        # Another connection with the same codes and names has its own: it neither renames
        # nor removes acme's, and its people never keep acme's in use.
        counts = self.apply(store, org(plan("globex", new=[person("9", department_code="D2",
                                                                  job_title="Cook")]),
                                       ("department", "create", "D1", "Theirs", "", "", ""),
                                       ("department", "update", "D2", "Mine", "", "Two", "D1"),
                                       ("department", "remove", "D2", "", "", "Two", "D1"),
                                       ("job_title", "create", "Cook", "Cook", "", "", ""),
                                       ("job_title", "remove", "Cook", "", "", "Cook", "")))
        assert {k: v for k, v in counts.items() if k.startswith(("departments", "job"))} == {
            "departments_created": 1, "departments_updated": 0, "departments_removed": 0,
            "job_titles_created": 1, "job_titles_removed": 0}
        acme = store.state("acme").org()
        assert acme.departments.values.tolist() == [["D1", "One", "", "acme"],
                                                    ["D2", "Two", "D1", "acme"]]
        assert acme.job_titles.values.tolist() == [["Chef", "acme"], ["Cook", "acme"]]
        globex = store.state("globex").org()
        assert globex.departments.values.tolist() == [["D1", "Theirs", "", "globex"]]
        assert globex.job_titles.values.tolist() == [["Cook", "globex"]]
        # What an active person of the connection still uses stays, whatever the plan says;
        # globex's person using "D2" and "Cook" does not keep acme's.
        counts = self.apply(store, org(plan("acme"),
                                       ("department", "remove", "D1", "", "", "One", ""),
                                       ("department", "remove", "D2", "", "", "Two", "D1"),
                                       ("job_title", "remove", "Chef", "", "", "Chef", ""),
                                       ("job_title", "remove", "Cook", "", "", "Cook", "")))
        assert (counts["departments_removed"], counts["job_titles_removed"]) == (1, 1)
        stored = store.state("acme").org()
        assert stored.departments.values.tolist() == [["D1", "One", "", "acme"]]
        assert stored.job_titles.values.tolist() == [["Chef", "acme"]]
        globex = store.state("globex").org()
        assert globex.departments.values.tolist() == [["D1", "Theirs", "", "globex"]]
        assert globex.job_titles.values.tolist() == [["Cook", "globex"]]

    def test_empty_plan_changes_nothing(self, store: Lms) -> None:
        counts = self.apply(store, plan())
        assert counts["create"] == counts["update"] == counts["deactivate"] == 0
        assert store.state("acme").snapshot().empty

    def test_emails_are_looked_up_across_connections(self, store: Lms) -> None:
        self.apply(store, plan("acme", new=[person("1", email="boss@x.example")]))
        self.apply(store, plan("globex", new=[person("2", email="other@x.example")]))
        state = store.state("acme")
        holders = state.holders_of_emails(["boss@x.example", "other@x.example", "no@x.example"])
        assert sorted(holders["employee_id"]) == ["1", "2"]
        assert state.manager_ids_by_email(["boss@x.example"]) == {"boss@x.example": "1"}

    def test_receipt_is_written_once_with_the_counts(self, store: Lms) -> None:
        receipt = Receipt()
        result = store.apply(plan(new=[person("1", email="a@x.example")]), 1, NOW, receipt)
        assert result.failed == []
        assert [(w[0]["create"], w[2]) for w in receipt.written] == [(1, [])]
        assert receipt.checks >= 1  # asked whether the run may still commit
        # A target that keeps its changes apart from the ledger says what it is about to do.
        assert [c.get("create") for _, c in receipt.intents] in ([], [1])


class GroupContract(StoreContract):
    """The promises of a target with ``capabilities.groups`` (inherited by those only)."""

    def test_says_it_keeps_groups(self, store: Lms) -> None:
        assert store.capabilities.groups

    @staticmethod
    def group_plan(changes: list[tuple[str, str, str]], **kwargs: Any) -> Plan:
        """A plan carrying group changes ``(employee_id, group, add|remove)``."""
        p = plan(**kwargs)
        p.groups = pd.DataFrame([(e, g, a, 2) for e, g, a in changes],
                                columns=list(GROUP_COLUMNS))
        p.groups_planned = True
        return p

    @staticmethod
    def members(store: Lms, connection: str = "acme") -> set[tuple[str, str, bool]]:
        frame = store.state(connection).memberships()
        assert list(frame.columns) == list(MEMBERSHIP_COLUMNS)
        return {(str(g), str(e), bool(o)) for g, e, o in frame.itertuples(index=False)}

    def test_group_adds_create_owned_groups_and_removes_take_members_out(
            self, store: Lms) -> None:
        counts = self.apply(store, self.group_plan(
            [("001", "Sales", "add"), ("002", "Sales", "add"), ("002", "Contractors", "add")],
            new=[person("001", email="001@x.example"), person("002", email="002@x.example")]))
        assert (counts["group_add"], counts["groups_created"]) == (3, 2)
        assert self.members(store) == {("Sales", "001", True), ("Sales", "002", True),
                                       ("Contractors", "002", True)}
        counts = self.apply(store, self.group_plan([("002", "Sales", "remove")]))
        assert counts["group_remove"] == 1
        assert self.members(store) == {("Sales", "001", True), ("Contractors", "002", True)}
        assert self.members(store, "globex") == set()

    def test_group_changes_are_idempotent(self, store: Lms) -> None:
        self.apply(store, self.group_plan([("001", "Sales", "add")],
                                          new=[person("001", email="001@x.example")]))
        twice = self.apply(store, self.group_plan([("001", "Sales", "add")]))
        assert (twice["group_add"], twice["groups_created"]) == (0, 0)
        self.apply(store, self.group_plan([("001", "Sales", "remove")]))
        again = self.apply(store, self.group_plan([("001", "Sales", "remove")]))
        assert again["group_remove"] == 0
        assert self.members(store) == set()


    def test_memberships_narrow_to_the_people_asked_and_orphaned_groups(
            self, store: Lms) -> None:
        """The few-people read a night takes: the asked people's memberships of the
        connection's groups, plus every member of a group the rules no longer name."""
        self.apply(store, self.group_plan(
            [("001", "Sales", "add"), ("002", "Sales", "add"), ("002", "Old", "add"),
             ("003", "Old", "add")],
            new=[person("001", email="001@x.example"), person("002", email="002@x.example"),
                 person("003", email="003@x.example")]))
        state = store.state("acme")

        def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
            assert list(frame.columns) == list(MEMBERSHIP_COLUMNS)
            return {(str(g), str(e)) for g, e in zip(frame["group"], frame["employee_id"],
                                                      strict=True)}

        assert pairs(state.memberships(["002"])) == {("Sales", "002"), ("Old", "002")}
        assert pairs(state.memberships(["001", "404"], {"Sales"})) == {
            ("Sales", "001"), ("Old", "002"), ("Old", "003")}
        assert pairs(state.memberships([], {"Sales", "Old"})) == set()
        assert pairs(store.state("globex").memberships(["001"])) == set()
