"""The diff: creates, field-by-field updates, leavers, rehires; plan(apply(plan)) is empty."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from filebridge.plan import DiffOptions, diff, fingerprint
from tests.plan.model_store import ModelStore

FIELDS = ("employee_id", "email", "department", "status")


def desired(rows):
    df = pd.DataFrame(rows, columns=["employee_id", "email", "department", "status"])
    df = df.astype("str")
    df["line"] = range(2, len(df) + 2)
    return df


def plan_for(store, rows, kind="snapshot", **opts):
    return diff("c", desired(rows), FIELDS, store.snapshot(), store.fetch,
                DiffOptions(file_kind=kind, **opts))


def test_first_import_creates_everyone_active_only():
    store = ModelStore()
    p = plan_for(store, [("1", "a@x", "D", "active"), ("2", "b@x", "D", "inactive")])
    assert p.creates["employee_id"].tolist() == ["1"]
    assert p.counts() == {"create": 1, "update": 0, "deactivate": 0, "reactivate": 0,
                          "delete": 0, "unchanged": 0, "skipped": 1}
    assert p.skipped[["employee_id", "reason", "line"]].values.tolist() == [
        ["2", "inactive-unknown", 3]]


def test_updates_are_field_by_field_with_old_and_new():
    store = ModelStore()
    store.apply(plan_for(store, [("1", "a@x", "Sales", "active")]))
    p = plan_for(store, [("1", "a@x", "Finance", "active")])
    assert p.updates[["employee_id", "field", "old", "new"]].values.tolist() == [
        ["1", "department", "Sales", "Finance"]]


def test_snapshot_leavers_delta_leaves_others_alone():
    store = ModelStore()
    store.apply(plan_for(store, [("1", "a@x", "D", "active"), ("2", "b@x", "D", "active")]))
    snap = plan_for(store, [("1", "a@x", "D", "active")])
    assert snap.deactivations[["employee_id", "reason"]].values.tolist() == [
        ["2", "missing from snapshot"]]
    delta = plan_for(store, [("1", "a@x", "E", "active")], kind="delta")
    assert delta.deactivations.empty and delta.counts()["update"] == 1


def test_protected_ids_are_never_leavers():
    store = ModelStore()
    store.apply(plan_for(store, [("1", "a@x", "D", "active"), ("2", "b@x", "D", "active")]))
    p = plan_for(store, [("1", "a@x", "D", "active")], protected=frozenset({"2"}))
    assert p.deactivations.empty


def test_rehire_reactivates_the_same_account():
    store = ModelStore()
    store.apply(plan_for(store, [("1", "a@x", "D", "active")]))
    store.apply(plan_for(store, [("1", "a@x", "D", "inactive")]))
    assert store.people["1"]["active"] is False
    p = plan_for(store, [("1", "a@x", "D2", "active")])
    assert p.reactivations["employee_id"].tolist() == ["1"] and p.creates.empty
    assert p.updates["field"].tolist() == ["department"]


def test_blank_cell_keeps_stored_value_when_asked():
    store = ModelStore()
    store.apply(plan_for(store, [("1", "a@x", "Sales", "active")]))
    p = plan_for(store, [("1", "a@x", "", "active")], keep_blank=frozenset({"department"}))
    assert p.updates.empty
    p = plan_for(store, [("1", "a@x", "", "active")])
    assert p.updates["new"].tolist() == [""]


def test_fingerprint_is_stable_and_column_sensitive():
    a = desired([("1", "a@x", "D", "active")])
    b = desired([("1", "a@x", "D ", "active")])
    assert fingerprint(a, FIELDS[:3])[0] == fingerprint(a.copy(), FIELDS[:3])[0]
    assert fingerprint(a, FIELDS[:3])[0] != fingerprint(b, FIELDS[:3])[0]


ids = st.sampled_from([f"{i:03d}" for i in range(12)])
person = st.tuples(ids, st.sampled_from(["a@x", "b@x", ""]), st.sampled_from(["S", "F", ""]),
                   st.sampled_from(["active", "active", "inactive"]))
night = st.lists(person, max_size=12, unique_by=lambda p: p[0])


@given(st.lists(st.tuples(night, st.sampled_from(["snapshot", "delta"])), min_size=1,
                max_size=6))
def test_plan_of_applied_plan_is_empty(nights):
    """Property: after applying any sequence of files, planning the last one again is empty,
    and the store equals the desired state of that file."""
    store = ModelStore()
    for rows, kind in nights:
        store.apply(plan_for(store, rows, kind))
        again = plan_for(store, rows, kind)
        assert again.is_empty(), again.to_dict()
        for emp, email, dept, status in rows:
            if emp in store.people:
                got = store.people[emp]
                assert got["active"] == (status == "active")
                assert got["fields"] == {"email": email, "department": dept}
            else:
                assert status == "inactive"
        if kind == "snapshot":
            listed = {r[0] for r in rows}
            assert all(not p["active"] for e, p in store.people.items() if e not in listed)


cells = st.one_of(st.text(max_size=6), st.sampled_from(["", "D", "Sales", "ß", "a@x"]))


@given(st.lists(st.tuples(cells, cells, cells), max_size=40),
       st.sampled_from([1, 3, 50_000]))
def test_fingerprint_equals_pandas_row_hash(rows, probe):
    """Stored fingerprints stay valid: the fast hash is exactly pandas' row hash, whichever
    path (hash every value, or each distinct value once) the cardinality probe picks."""
    import filebridge.columnar as columns
    frame = pd.DataFrame(rows, columns=["a", "b", "c"], dtype="str")
    expected = pd.util.hash_pandas_object(frame, index=False).to_numpy().view("int64")
    old = columns.PROBE_ROWS
    columns.PROBE_ROWS = probe
    try:
        assert fingerprint(frame, ["a", "b", "c"]).tolist() == expected.tolist()
    finally:
        columns.PROBE_ROWS = old
