"""The diff: creates, field-by-field updates, leavers, rehires; plan(apply(plan)) is empty."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from filebridge.lms import SqlStore
from filebridge.lms.interface import Lms
from filebridge.lms.memory import MemoryLms
from filebridge.plan import DiffOptions, Plan, diff, fingerprint
from filebridge.plan.model import FileKind
from filebridge.plan.policy import Policies
from tests.plan.nights import NOW, Row, plan_file, row

FIELDS = ("employee_id", "email", "department", "status")
Person = tuple[str, str, str, str]


def desired(rows: list[Person]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["employee_id", "email", "department", "status"])
    df = df.astype("str")
    df["line"] = range(2, len(df) + 2)
    return df


def plan_for(lms: MemoryLms, rows: list[Person], kind: FileKind = "snapshot",
             **opts: frozenset[str]) -> Plan:
    state = lms.state("c")
    return diff("c", desired(rows), FIELDS, state.snapshot(), state.fetch,
                DiffOptions(file_kind=kind, **opts))  # type: ignore[arg-type]


def stored(lms: MemoryLms) -> dict[str, tuple[bool, str, str]]:
    """id -> (active, email, department) of connection c."""
    return {r.employee_id: (bool(r.active), r.email, r.department)
            for r in lms.users("c").itertuples(index=False)}


def test_first_import_creates_everyone_active_only():
    lms = MemoryLms()
    p = plan_for(lms, [("1", "a@x", "D", "active"), ("2", "b@x", "D", "inactive")])
    assert p.creates["employee_id"].tolist() == ["1"]
    assert p.counts() == {"create": 1, "update": 0, "drift": 0, "deactivate": 0, "reactivate": 0,
                          "delete": 0, "unchanged": 0, "skipped": 1}
    assert p.skipped[["employee_id", "reason", "line"]].values.tolist() == [
        ["2", "inactive-unknown", 3]]


def test_updates_are_field_by_field_with_old_and_new():
    lms = MemoryLms()
    lms.apply(plan_for(lms, [("1", "a@x", "Sales", "active")]), None, NOW)
    p = plan_for(lms, [("1", "a@x", "Finance", "active")])
    assert p.updates[["employee_id", "field", "old", "new"]].values.tolist() == [
        ["1", "department", "Sales", "Finance"]]


def test_snapshot_leavers_delta_leaves_others_alone():
    lms = MemoryLms()
    lms.apply(plan_for(lms, [("1", "a@x", "D", "active"), ("2", "b@x", "D", "active")]), None, NOW)
    snap = plan_for(lms, [("1", "a@x", "D", "active")])
    assert snap.deactivations[["employee_id", "reason"]].values.tolist() == [
        ["2", "missing from snapshot"]]
    delta = plan_for(lms, [("1", "a@x", "E", "active")], kind="delta")
    assert delta.deactivations.empty and delta.counts()["update"] == 1


def test_protected_ids_are_never_leavers():
    lms = MemoryLms()
    lms.apply(plan_for(lms, [("1", "a@x", "D", "active"), ("2", "b@x", "D", "active")]), None, NOW)
    p = plan_for(lms, [("1", "a@x", "D", "active")], protected=frozenset({"2"}))
    assert p.deactivations.empty


def test_rehire_reactivates_the_same_account():
    lms = MemoryLms()
    lms.apply(plan_for(lms, [("1", "a@x", "D", "active")]), None, NOW)
    lms.apply(plan_for(lms, [("1", "a@x", "D", "inactive")]), None, NOW)
    assert stored(lms)["1"] == (False, "a@x", "D")
    p = plan_for(lms, [("1", "a@x", "D2", "active")])
    assert p.reactivations["employee_id"].tolist() == ["1"] and p.creates.empty
    assert p.updates["field"].tolist() == ["department"]


def test_blank_cell_keeps_stored_value_when_asked():
    lms = MemoryLms()
    lms.apply(plan_for(lms, [("1", "a@x", "Sales", "active")]), None, NOW)
    p = plan_for(lms, [("1", "a@x", "", "active")], keep_blank=frozenset({"department"}))
    assert p.updates.empty
    p = plan_for(lms, [("1", "a@x", "", "active")])
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


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(night, st.sampled_from(["snapshot", "delta"])), min_size=1,
                max_size=6))
def test_diff_of_an_applied_diff_is_empty(nights):
    """Property (the bare diff): after applying any sequence of files, planning the last one
    again is empty, and the store equals the desired state of that file."""
    lms = MemoryLms()
    for rows, kind in nights:
        lms.apply(plan_for(lms, rows, kind), None, NOW)
        again = plan_for(lms, rows, kind)
        assert again.is_empty(), again.to_dict()
        people = stored(lms)
        for emp, email, dept, status in rows:
            if emp in people:
                assert people[emp] == (status == "active", email, dept)
            else:
                assert status == "inactive"
        if kind == "snapshot":
            listed = {r[0] for r in rows}
            assert not any(active for e, (active, _, _) in people.items() if e not in listed)


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



def test_fingerprint_of_many_distinct_values_is_hashed_in_slices_with_the_same_result():
    """Distinct values are hashed a slice at a time (bounded memory); the slice borders
    must not change a single fingerprint, nulls and non-ASCII text included."""
    diff_module = importlib.import_module("filebridge.plan.diff")  # the name is a function too
    ids = [f"{i:05d}" for i in range(2_500)]
    frame = pd.DataFrame({"a": ids, "b": [f"zoë{i}@x" for i in range(2_500)]}, dtype="str")
    frame.loc[7, "b"] = None
    expected = pd.util.hash_pandas_object(frame.astype("str"), index=False).to_numpy()
    old = diff_module.HASH_SLICE_ROWS
    diff_module.HASH_SLICE_ROWS = 1_000  # three slices, the last one short
    try:
        got = fingerprint(frame, ["a", "b"])
    finally:
        diff_module.HASH_SLICE_ROWS = old
    assert got.tolist() == expected.view("int64").tolist()

# -- The whole plan, night after night, against the in-memory and the SQL store ----------

FULL_IDS = [f"{i:02d}" for i in range(1, 9)]
source_row = st.tuples(
    st.sampled_from(FULL_IDS),
    # Shared addresses make rehires and clashes; "A@X.org" canonicalises to a@x.org.
    st.sampled_from(["", "a@x.org", "A@X.org", "b@x.org", "own", "own", "bad"]),
    st.sampled_from(["A", "A", "A", "T"]),
    st.sampled_from(["", "D1", "D2", "D3"]),
    st.sampled_from(["", "Sales", "Finance"]),
    st.sampled_from(["", "", "D1", "D2"]),
    st.sampled_from(["", "Clerk", "Chef"]),
    st.sampled_from(["staff", "staff", "temp"]),
).map(lambda r: row(r[0], f"{r[0]}@x.org" if r[1] == "own" else r[1], *r[2:]))
source_night = st.tuples(st.lists(source_row, max_size=8), st.sampled_from(["snapshot", "delta"]))
POLICIES = st.sampled_from([
    Policies(),
    Policies(rehire_match="employee_id_or_email"),
    Policies(leavers="delete"),
    Policies(leavers="delete", delete_grace_days=1, rehire_match="employee_id_or_email"),
    Policies(leavers="ignore", cleanup="keep"),
    Policies(employee_types=("staff",)),
])
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
TIMES = ("created_at", "updated_at", "deactivated_at")


@contextmanager
def store_of(kind: str) -> Iterator[Lms]:
    """A fresh, empty store of ``kind``: memory, or the SQL store on a new SQLite file."""
    if kind == "memory":
        yield MemoryLms()
        return
    with tempfile.TemporaryDirectory(prefix="plan-property-") as folder:
        sql = SqlStore.open(f"sqlite:///{Path(folder) / 'lms.sqlite'}")
        sql.prepare()
        try:
            yield sql
        finally:
            sql.close()


def contents(lms: Lms) -> tuple[list[dict[str, object]], list[list[str]], list[list[str]]]:
    """Everyone (without timestamps, which each store keeps in its own type), whether they
    are deactivated, and the departments and job titles."""
    users = lms.users(None)
    deactivated = users["deactivated_at"].notna().tolist()
    people = users.drop(columns=list(TIMES)).astype(object).to_dict("records")
    org = lms.state("c").org()
    return ([{**p, "deactivated": d} for p, d in zip(people, deactivated, strict=True)],
            sorted(org.departments.astype(str).values.tolist()),
            sorted(org.job_titles.astype(str).values.tolist()))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=PHASES)
@given(nights=st.lists(source_night, min_size=1, max_size=4), policies=POLICIES)
def test_a_second_plan_after_applying_the_first_is_empty(kind, nights, policies):
    """Property (the whole plan: mapping, validation, identities, leavers, departments):
    after each night's file is applied, planning the same file again changes nothing; and
    the SQL store ends each night exactly like the in-memory reference fed the same files."""
    with store_of(kind) as lms:
        reference = MemoryLms() if kind != "memory" else None
        for n, (rows, file_kind) in enumerate(nights):
            now = NOW + timedelta(days=n)
            first, _ = plan_file(lms, rows, file_kind, policies, now)
            if reference is not None:
                expected, _ = plan_file(reference, rows, file_kind, policies, now)
                assert first.problems == expected.problems
                if not expected.problems:
                    reference.apply(expected.plan, n, now)
            if first.problems:
                assert [p.code for p in first.problems] == ["department-cycle"]
                continue
            lms.apply(first.plan, n, now)
            again, records = plan_file(lms, rows, file_kind, policies, now)
            assert again.problems == []
            assert again.plan.is_empty(), again.plan.to_dict()
            if reference is not None:
                assert contents(lms) == contents(reference)
            _file_is_reflected(lms, rows, records.accepted(), again.plan, file_kind, policies)


def _file_is_reflected(lms: Lms, rows: list[Row], accepted: pd.DataFrame, plan: Plan,
                       file_kind: FileKind, policies: Policies) -> None:
    """Every accepted active row's person is active with the row's email; under the
    default leaver policy nobody missing from a snapshot (or outside its filter) stays
    active; a row skipped for its blank email keeps its person as they were."""
    users = lms.users("c").set_index("employee_id")
    skipped = set(plan.skipped["employee_id"])
    for r in accepted.itertuples(index=False):
        if r.employee_id in skipped:
            continue
        if r.status == "active":
            assert users.at[r.employee_id, "active"]
            assert users.at[r.employee_id, "email"] == r.email
        elif policies.leavers == "deactivate":
            assert not users.at[r.employee_id, "active"]
    if file_kind == "snapshot" and policies.leavers == "deactivate":
        filtered = plan.skipped.loc[plan.skipped["reason"] == "filtered-out", "employee_id"]
        listed = {r[0] for r in rows} - set(filtered)
        assert set(users.index[users["active"].astype(bool)]) <= listed
