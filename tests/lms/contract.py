"""``StoreContract``: the promises every LMS store keeps, inherited by each store's tests.

A subclass provides two fixtures: ``store`` (an empty, migrated store) and
``transaction`` (a callable returning a context manager that yields the ``tx``
passed to ``apply`` and commits on success).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest

from filebridge.lms import InvalidFieldName, StalePlan, Store
from filebridge.plan.model import Plan
from tests.lms.plans import person, plan

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
Transaction = Callable[[], AbstractContextManager[Any]]


class StoreContract:
    """Behaviours of ``Store``; see the module docstring for the fixtures to provide."""

    def apply(
        self, store: Store, transaction: Transaction, p: Plan, run_id: int | None = 1
    ) -> dict[str, int]:
        with transaction() as tx:
            return store.apply(tx, p, run_id, NOW)

    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)

    def test_empty_snapshot_has_typed_columns(self, store: Store) -> None:
        snap = store.snapshot("acme")
        assert list(snap.columns) == ["employee_id", "fingerprint", "active"]
        assert len(snap) == 0
        assert str(snap["fingerprint"].dtype) == "int64"
        assert str(snap["active"].dtype) == "bool"

    def test_creates_appear_in_snapshot(self, store: Store, transaction: Transaction) -> None:
        counts = self.apply(
            store, transaction, plan(new=[person("001"), person("002")], fps=[-(2**63), 2**63 - 1])
        )
        assert counts["create"] == 2
        snap = store.snapshot("acme").sort_values("employee_id")
        assert snap["employee_id"].tolist() == ["001", "002"]
        assert snap["fingerprint"].tolist() == [-(2**63), 2**63 - 1]
        assert snap["active"].tolist() == [True, True]
        assert str(snap["fingerprint"].dtype) == "int64"

    def test_snapshot_is_per_connection(self, store: Store, transaction: Transaction) -> None:
        self.apply(store, transaction, plan("acme", new=[person("7", email="a@acme")]))
        self.apply(store, transaction, plan("globex", new=[person("7", email="b@globex")]))
        assert store.snapshot("acme")["employee_id"].tolist() == ["7"]
        assert store.snapshot("initech").empty
        assert store.fetch("globex", ["7"], ["email"]).loc["7", "email"] == "b@globex"

    def test_fetch_returns_fields_of_given_ids_only(
        self, store: Store, transaction: Transaction
    ) -> None:
        self.apply(
            store,
            transaction,
            plan(
                new=[
                    person("1", email="a@x", first_name="Zoë", custom_cost_center="C1"),
                    person("2", email="b@x"),
                    person("3", email="c@x"),
                ]
            ),
        )
        got = store.fetch("acme", ["3", "1", "missing"], ["email", "custom.cost_center"])
        assert got.index.name == "employee_id"
        assert got.index.tolist() == ["3", "1"]
        assert list(got.columns) == ["email", "custom.cost_center"]
        assert got.loc["1"].tolist() == ["a@x", "C1"]
        assert got.loc["3"].tolist() == ["c@x", ""]

    def test_fetch_many_ids(self, store: Store, transaction: Transaction) -> None:
        people = [person(f"{i:05d}", email=f"{i}@x") for i in range(2500)]
        self.apply(store, transaction, plan(new=people))
        ids = [p["employee_id"] for p in people][::-1]
        got = store.fetch("acme", ids, ["email"])
        assert got.index.tolist() == ids
        assert got.loc["00042", "email"] == "42@x"

    def test_updates_change_fields_and_fingerprints(
        self, store: Store, transaction: Transaction
    ) -> None:
        self.apply(
            store,
            transaction,
            plan(new=[person("1", email="a@x", custom_cost_center="C1"), person("2", email="b@x")]),
        )
        counts = self.apply(
            store,
            transaction,
            plan(
                changed=[
                    ("1", "email", "a@x", "new@x"),
                    ("1", "custom.cost_center", "C1", ""),
                    ("2", "custom.cost_center", "", "C9"),
                    ("2", "first_name", "", "Bo"),
                ],
                new_fps={"1": 101, "2": 202},
            ),
        )
        assert counts["update"] == 2
        got = store.fetch("acme", ["1", "2"], ["email", "first_name", "custom.cost_center"])
        assert got.loc["1"].tolist() == ["new@x", "", ""]
        assert got.loc["2"].tolist() == ["b@x", "Bo", "C9"]
        snap = store.snapshot("acme").set_index("employee_id")
        assert snap["fingerprint"].to_dict() == {"1": 101, "2": 202}

    def test_deactivate_and_reactivate(self, store: Store, transaction: Transaction) -> None:
        self.apply(store, transaction, plan(new=[person("1"), person("2")]))
        assert self.apply(store, transaction, plan(leavers=["1"]))["deactivate"] == 1
        snap = store.snapshot("acme").set_index("employee_id")
        assert snap["active"].to_dict() == {"1": False, "2": True}
        assert len(store.users("acme", active=False)) == 1
        assert self.apply(store, transaction, plan(returners=["1"]))["reactivate"] == 1
        assert store.snapshot("acme")["active"].all()

    def test_existing_employee_ids_spans_connections(
        self, store: Store, transaction: Transaction
    ) -> None:
        self.apply(store, transaction, plan("acme", new=[person("1")]))
        self.apply(store, transaction, plan("globex", new=[person("2")]))
        assert store.existing_employee_ids(["1", "2", "3"]) == {"1", "2"}
        assert store.existing_employee_ids([]) == set()

    def test_values_are_stored_verbatim(self, store: Store, transaction: Transaction) -> None:
        odd = ["'; DROP TABLE users; --", '=HYPERLINK("x")', "000123", "José 中文 \u202e"]
        self.apply(
            store,
            transaction,
            plan(new=[person(str(i), email=v, custom_cost_center=v) for i, v in enumerate(odd)]),
        )
        got = store.fetch("acme", ["0", "1", "2", "3"], ["email", "custom.cost_center"])
        assert got["email"].tolist() == odd
        assert got["custom.cost_center"].tolist() == odd

    def test_invalid_field_name_is_refused(self, store: Store, transaction: Transaction) -> None:
        with pytest.raises(InvalidFieldName):
            self.apply(store, transaction, plan(changed=[("1", "email = 'x', active", "", "")]))
        with pytest.raises(InvalidFieldName):
            store.fetch("acme", ["1"], ["id"])

    def test_create_of_existing_person_is_stale(
        self, store: Store, transaction: Transaction
    ) -> None:
        self.apply(store, transaction, plan(new=[person("1", email="old@x")]))
        with pytest.raises(StalePlan):
            self.apply(store, transaction, plan(new=[person("2"), person("1", email="x@x")]))
        assert store.snapshot("acme")["employee_id"].tolist() == ["1"]

    def test_update_of_missing_person_is_stale(
        self, store: Store, transaction: Transaction
    ) -> None:
        self.apply(store, transaction, plan(new=[person("1", email="a@x")]))
        with pytest.raises(StalePlan):
            self.apply(
                store,
                transaction,
                plan(changed=[("1", "email", "a@x", "b@x"), ("9", "email", "", "c@x")]),
            )
        assert store.fetch("acme", ["1"], ["email"]).loc["1", "email"] == "a@x"

    def test_users_filters(self, store: Store, transaction: Transaction) -> None:
        self.apply(store, transaction, plan("acme", new=[person("1"), person("2"), person("3")]))
        self.apply(store, transaction, plan("globex", new=[person("4")]))
        self.apply(store, transaction, plan("acme", leavers=["2"]))
        assert store.users("acme")["employee_id"].tolist() == ["1", "2", "3"]
        assert store.users("acme", active=True)["employee_id"].tolist() == ["1", "3"]
        assert len(store.users(None)) == 4
        assert len(store.users(None, limit=2)) == 2

    def test_empty_plan_changes_nothing(self, store: Store, transaction: Transaction) -> None:
        counts = self.apply(store, transaction, plan())
        assert counts["create"] == counts["update"] == counts["deactivate"] == 0
        assert store.snapshot("acme").empty
