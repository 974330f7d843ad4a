"""Membership drift in the built-in store, on SQLite and PostgreSQL: a membership the
rules made, removed straight in the database (or its group deleted or renamed there),
is listed by the next plan as group drift and put back by the apply; filebridge's own
removals are never drift; unchanged people's memberships are not read at all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms import SqlStore
from filebridge.lms.schema import group_drift, group_members, groups, users
from tests.conftest import BACKENDS
from tests.plan.group_nights import NOW, night, plan_file, row

ROWS = [row("E1", dept="Sales", country="DE"), row("E2", dept="Sales", country="AT"),
        row("E3", dept="IT", kind="contractor")]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> SqlStore:
    engine: Engine = request.getfixturevalue(request.param)
    return SqlStore(engine)


def outside(store: SqlStore, stmt: sa.Executable) -> None:
    """A statement run by someone else's database session (an LMS admin's script)."""
    with store.engine.begin() as conn:
        conn.execute(stmt)


def group_id(name: str) -> sa.ScalarSelect[int]:
    return sa.select(groups.c.id).where(groups.c.managed_by == "c",
                                        groups.c.name == name).scalar_subquery()


def user_id(employee_id: str) -> sa.ScalarSelect[int]:
    return sa.select(users.c.id).where(users.c.managed_by == "c",
                                       users.c.employee_id == employee_id).scalar_subquery()


def members(store: SqlStore) -> set[tuple[str, str]]:
    frame = store.state("c").memberships()
    return set(zip(frame["employee_id"], frame["group"], strict=True))


def marks(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(group_drift)) or 0)


def test_a_membership_deleted_in_the_database_is_drift_and_put_back(store):
    night(store, ROWS)
    before = members(store)
    assert ("E1", "Sales DACH") in before and marks(store) == 0
    outside(store, sa.delete(group_members).where(group_members.c.group_id == group_id(
        "Sales DACH"), group_members.c.user_id == user_id("E1")))

    planned = plan_file(store, ROWS).plan
    assert planned.group_drift[["employee_id", "group"]].values.tolist() == [
        ["E1", "Sales DACH"]]
    assert planned.counts()["group_drift"] == 1
    assert planned.groups[["employee_id", "group", "action"]].values.tolist() == [
        ["E1", "Sales DACH", "add"]]
    # Only the drifted person was compared: unchanged people's memberships are not read.
    assert planned.group_fingerprints["employee_id"].tolist() == ["E1"]
    assert planned.to_dict()["group_drift"] == [
        {"employee_id": "E1", "group": "Sales DACH", "line": 2}]

    store.apply(planned, None, NOW)
    assert members(store) == before and marks(store) == 0
    assert plan_file(store, ROWS).plan.is_empty()


def test_a_deleted_or_renamed_group_is_drift_for_each_member(store):
    night(store, ROWS)
    before = members(store)
    outside(store, sa.delete(groups).where(groups.c.id == group_id("Sales DACH")))
    outside(store, sa.update(groups).where(groups.c.id == group_id("Contractors"))
            .values(name="Freelancers"))

    planned = plan_file(store, ROWS).plan
    assert sorted(planned.group_drift[["employee_id", "group"]].values.tolist()) == [
        ["E1", "Sales DACH"], ["E2", "Sales DACH"], ["E3", "Contractors"]]
    store.apply(planned, None, NOW)
    assert members(store) == before
    assert plan_file(store, ROWS).plan.is_empty()


def test_filebridge_own_removals_and_manual_members_are_not_drift(store):
    night(store, ROWS)
    moved = [row("E1", dept="IT", country="DE"), *ROWS[1:]]
    planned = night(store, moved).plan  # E1 leaves Sales DACH and Dept Sales: by the rules
    assert ("E1", "Sales DACH", "remove") in set(map(tuple, planned.groups[
        ["employee_id", "group", "action"]].values.tolist()))
    assert marks(store) == 0 and plan_file(store, moved).plan.is_empty()
    # A member added by hand and removed by hand again is someone else's business: the
    # mark only makes the plan compare them, and the rules want nothing for them.
    outside(store, group_members.insert().from_select(
        ["group_id", "user_id", "added_by", "added_at"],
        sa.select(group_id("Dept Sales"), user_id("E3"), sa.null(), sa.func.now())))
    outside(store, sa.delete(group_members).where(group_members.c.group_id == group_id(
        "Dept Sales"), group_members.c.user_id == user_id("E3")))
    again = plan_file(store, moved).plan
    assert again.group_drift.empty and again.groups.empty

