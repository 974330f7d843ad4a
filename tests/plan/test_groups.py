"""Group rules through the whole plan, on the in-memory store and the built-in SQL store.

Properties: after a night a person is in exactly the groups whose rules match (checked
against a one-person-at-a-time reference), applying the same file twice changes nothing,
removing a rule empties its group on the next run, and members added by hand are never
touched. Plus the guard's hold on mass group removals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filebridge.lms.memory import MemoryLms
from filebridge.lms.sqlstore import SqlStore
from filebridge.plan import groups as groups_plan
from filebridge.plan.guard import GuardPolicy, judge
from tests.plan.group_nights import (
    RULES,
    expected_groups,
    mapping,
    night,
    plan_file,
    row,
)

DEPTS = ("Sales", "IT", "HR", "")
COUNTRIES = ("DE", "AT", "CH", "FR", "")
TYPES = ("contractor", "full-time", "")


@st.composite
def staff(draw: st.DrawFn) -> list[tuple[str, ...]]:
    """A file of up to 25 people with fields the rules read and a manager tree."""
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(1, n + 1):
        boss = draw(st.integers(0, i - 1))  # earlier people only: a tree, no cycle
        rows.append(row(f"E{i}", draw(st.sampled_from(("A", "A", "A", "T"))),
                        draw(st.sampled_from(DEPTS)), draw(st.sampled_from(COUNTRIES)),
                        draw(st.sampled_from(TYPES)), f"E{boss}" if boss else ""))
    return rows


# "sqlite-partial": the store's fingerprints always pick the few-people read, however
# many people changed, so small Hypothesis files exercise the path a big night takes.
KINDS = ["memory", "sqlite", "sqlite-partial"]


def _lms(kind: str, tmp: Path, monkeypatch: pytest.MonkeyPatch | None = None
         ) -> MemoryLms | SqlStore:
    if kind == "memory":
        return MemoryLms()
    if kind == "sqlite-partial":
        assert monkeypatch is not None
        monkeypatch.setattr(groups_plan, "FULL_READ_SHARE", float("inf"))
    store = SqlStore.open(f"sqlite:///{tmp}/lms.sqlite")
    store.prepare()
    return store


def _stored(lms: MemoryLms | SqlStore) -> dict[str, set[str]]:
    frame = lms.state("c").memberships()
    out: dict[str, set[str]] = {}
    for g, e in zip(frame["group"], frame["employee_id"], strict=True):
        out.setdefault(str(e), set()).add(str(g))
    return out


def _people(rows: list[tuple[str, ...]]) -> dict[str, dict[str, str]]:
    status = {"A": "active", "T": "inactive"}
    return {r[0]: {"status": status[r[2]], "department": r[3], "country": r[4],
                   "employee_type": r[5], "manager_id": r[6]} for r in rows}


SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(first=staff(), second=staff())
def test_members_are_exactly_the_matches_and_a_second_plan_is_empty(
        kind: str, first: list[tuple[str, ...]], second: list[tuple[str, ...]],
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    lms = _lms(kind, tmp_path_factory.mktemp("g"), monkeypatch)
    rules = mapping().groups
    for rows in (first, second):
        night(lms, rows)
        expected = {e: g for e, g in expected_groups(rules, _people(rows)).items() if g}
        assert _stored(lms) == expected
        again = plan_file(lms, rows).plan
        assert again.groups.empty, again.groups
        no_rule = sum(1 for e, p in _people(rows).items()
                      if p["status"] == "active" and not expected.get(e))
        assert again.no_group == no_rule


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(rows=staff(), dropped=st.integers(0, len(RULES) - 1))
def test_removing_a_rule_empties_its_group_next_run(
        kind: str, rows: list[tuple[str, ...]], dropped: int,
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    lms = _lms(kind, tmp_path_factory.mktemp("g"), monkeypatch)
    night(lms, rows)
    rest = [r for i, r in enumerate(RULES) if i != dropped]
    night(lms, rows, rest)
    expected = {e: g for e, g in expected_groups(mapping(rest).groups, _people(rows)).items()
                if g}
    assert _stored(lms) == expected
    gone = mapping([RULES[dropped]]).groups[0]
    stored = {g for gs in _stored(lms).values() for g in gs}
    if gone.kind != "field":
        assert gone.name not in stored


# Ways to change the rule set: drop one rule, add one, or edit one in place (same group
# name, other condition), so a person's group set may not change while the rules did.
EXTRA_RULE = {"name": "Country {value}", "group_from": "country"}


def _changed_rules(how: str, at: int) -> list[dict[str, Any]]:
    rules = [dict(r) for r in RULES]
    if how == "drop":
        return [r for i, r in enumerate(rules) if i != at]
    if how == "add":
        return [*rules[:at], EXTRA_RULE, *rules[at:]]
    rules[0] = {"name": "Sales DACH", "when": {"field": "country", "in": ["DE", "AT"]}}
    return rules


@pytest.mark.parametrize("kind", ["sqlite", "sqlite-partial"])
@SETTINGS
@given(rows=staff(), how=st.sampled_from(["drop", "add", "edit"]),
       at=st.integers(0, len(RULES) - 1))
def test_a_changed_rule_set_compares_everyone_again(
        kind: str, rows: list[tuple[str, ...]], how: str, at: int,
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    lms = _lms(kind, tmp_path_factory.mktemp("g"), monkeypatch)
    night(lms, rows)
    stored = set(lms.state("c").snapshot()["employee_id"])
    again = plan_file(lms, rows).plan  # nothing moved: nobody in the store is read
    assert not set(again.group_fingerprints["employee_id"]) & stored
    changed = _changed_rules(how, at)
    planned = night(lms, rows, changed)
    # The rules' digest is part of every fingerprint: everyone in the file is compared.
    assert set(planned.plan.group_fingerprints["employee_id"]) == {r[0] for r in rows}, \
        "a person whose group set did not change was not compared under the new rules"
    expected = {e: g for e, g in expected_groups(mapping(changed).groups,
                                                 _people(rows)).items() if g}
    assert _stored(lms) == expected
    assert plan_file(lms, rows, changed).plan.groups.empty


def test_members_added_by_hand_are_never_touched() -> None:
    lms = MemoryLms()
    rows = [row("E1", dept="Sales", country="DE"), row("E2", dept="IT", kind="contractor")]
    night(lms, rows)
    # By hand: E1 into the rule-made group Contractors, E2 into Sales DACH.
    lms.add_member_by_hand("c", "Contractors", "c", "E1")
    lms.add_member_by_hand("c", "Sales DACH", "c", "E2")
    planned = night(lms, rows)
    assert planned.plan.groups.empty
    # E2 now matches Sales DACH: already a member by hand, so nothing is added.
    moved = [row("E1", dept="IT", country="DE"),
             row("E2", dept="Sales", country="AT", kind="contractor")]
    planned = night(lms, moved)
    changes = set(map(tuple, planned.plan.groups[["employee_id", "group", "action"]]
                      .to_numpy().tolist()))
    assert ("E2", "Sales DACH", "add") not in changes
    assert ("E1", "Sales DACH", "remove") in changes
    assert lms.group_members("c", "Contractors") == {"E1": None, "E2": "c"}
    assert lms.group_members("c", "Sales DACH") == {"E2": None}


def test_leavers_leave_their_groups_and_a_rehire_rejoins() -> None:
    lms = MemoryLms()
    night(lms, [row("E1", dept="Sales"), row("E2", dept="Sales")])
    planned = night(lms, [row("E1", dept="Sales")])
    assert list(planned.plan.groups.itertuples(index=False)) == [
        ("E2", "Dept Sales", "remove", None)]
    planned = night(lms, [row("E1", dept="Sales"), row("E2", dept="Sales")])
    assert planned.plan.groups[["employee_id", "action"]].values.tolist() == [["E2", "add"]]


def test_a_delta_file_changes_only_its_people_and_keeps_the_hierarchy() -> None:
    lms = MemoryLms()
    night(lms, [row("E1"), row("E2", boss="E1", dept="IT"), row("E3", boss="E2")])
    assert _stored(lms)["E3"] == {"Team E1"}
    planned = night(lms, [row("E2", dept="HR")], kind="delta")
    assert sorted(map(tuple, planned.plan.groups[["group", "action"]].to_numpy().tolist())) \
        == [("Dept HR", "add"), ("Dept IT", "remove")]
    assert _stored(lms)["E3"] == {"Team E1"} and "Team E1" in _stored(lms)["E2"]


def test_mass_group_removal_is_held_by_the_brake() -> None:
    lms = MemoryLms()
    rows = [row(f"E{i}", kind="contractor", dept="Sales") for i in range(1, 41)]
    night(lms, rows)
    planned = plan_file(lms, rows, [r for r in RULES if r["name"] != "Contractors"])
    assert planned.plan.counts()["group_remove"] == 40
    holds = judge(planned.plan, planned.managed, len(rows), 0, GuardPolicy())
    assert [h.code for h in holds] == ["too-many-group-remove"]
    assert "40 group removals" in holds[0].message and "80 memberships" in holds[0].message
    small = plan_file(lms, rows[:-3]).plan  # three leavers: 6 removals, under 10
    assert not [h for h in judge(small, 40, 37, 0, GuardPolicy())
                if h.code == "too-many-group-remove"]
    off = GuardPolicy.from_config({"group_remove": {"percent": None, "count": None}})
    assert judge(planned.plan, planned.managed, len(rows), 0, off) == []
