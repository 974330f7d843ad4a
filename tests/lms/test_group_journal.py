"""Group changes in the change journal, on SQLite and PostgreSQL: every membership a run
adds or removes is journaled, the per-run change list lists it, ``undo`` reverts it
(unless a later run touched the same person and group), and the next file compares
the undone people's memberships again."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.pipeline.changelog import change_rows
from tests.conftest import BACKENDS
from tests.plan.group_nights import NOW, plan_file, row

BEFORE = [row("E1", dept="Sales", country="DE"), row("E2", dept="IT", kind="contractor")]
AFTER = [row("E1", dept="IT", country="DE"), row("E2", dept="IT")]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> SqlStore:
    engine: Engine = request.getfixturevalue(request.param)
    return SqlStore(engine)


def run(store: SqlStore, rows: list[tuple[str, ...]], run_id: int) -> None:
    planned = plan_file(store, rows)
    assert planned.problems == []
    store.apply(planned.plan, run_id, NOW)


def members(store: SqlStore) -> set[tuple[str, str]]:
    frame = store.state("c").memberships()
    return set(zip(frame["employee_id"], frame["group"], strict=True))


def test_group_changes_are_journaled_listed_and_undone(store):
    run(store, BEFORE, 1)
    before = members(store)
    planned = plan_file(store, AFTER).plan
    moves = set(map(tuple, planned.groups[["employee_id", "group", "action"]].values.tolist()))
    assert moves == {("E1", "Sales DACH", "remove"), ("E1", "Dept Sales", "remove"),
                     ("E1", "Dept IT", "add"), ("E2", "Contractors", "remove")}
    listed = change_rows(planned)
    assert set(map(tuple, listed.loc[listed["field"] == "group",
                                     ["employee_id", "action", "old", "new"]].values.tolist())) \
        == {("E1", "group_remove", "Sales DACH", ""), ("E1", "group_remove", "Dept Sales", ""),
            ("E1", "group_add", "", "Dept IT"), ("E2", "group_remove", "Contractors", "")}
    store.apply(planned, 2, NOW)
    journal = store.journal_of("c", ["E1", "E2"])
    groups = journal.loc[journal["field"] == "group"].astype(object)
    groups = groups.where(groups.notna(), None)
    assert set(map(tuple, groups[["run_id", "employee_id", "action", "old", "new"]]
                   .values.tolist())) >= {
        (2, "E1", "group_add", None, "Dept IT"), (2, "E2", "group_remove", "Contractors", None)}

    undo, refused = store.undo_plan("c", 2)
    assert set(map(tuple, undo.groups[["employee_id", "group", "action"]].values.tolist())) \
        == {(e, g, "add" if a == "remove" else "remove") for e, g, a in moves}
    store.apply(undo, 3, NOW)
    assert members(store) == before
    # The undone people are compared in full by the next file, which moves them again.
    again = plan_file(store, AFTER).plan
    assert set(again.group_fingerprints["employee_id"]) >= {"E1", "E2"}
    assert set(map(tuple, again.groups[["employee_id", "group", "action"]].values.tolist())) \
        == moves


def test_undo_leaves_a_membership_a_later_run_changed(store):
    run(store, BEFORE, 1)
    run(store, AFTER, 2)  # E1 leaves Sales DACH
    run(store, BEFORE, 3)  # and rejoins it
    undo, refused = store.undo_plan("c", 2)
    assert ("E1", "Sales DACH") not in set(map(tuple, undo.groups[
        ["employee_id", "group"]].values.tolist()))
    assert "run 3 changed it later" in set(refused.loc[
        (refused["employee_id"] == "E1") & (refused["action"] == "group_remove"), "reason"])
