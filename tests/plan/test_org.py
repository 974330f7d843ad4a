"""Departments and job titles: the tree from the rows, cycles, and what this connection may
create, rename, re-parent and remove."""

from __future__ import annotations

import pandas as pd

from filebridge.lms.memory import MemoryLms
from filebridge.plan.org import (
    StoredOrg,
    department_cycles,
    department_key,
    desired_departments,
    org_changes,
    tree,
)
from filebridge.plan.policy import Policies
from filebridge.problems import Problem
from tests.plan.nights import Row, night, people, plan_file, row

NO_ORG = StoredOrg(pd.DataFrame(columns=["code", "name", "parent_code", "managed_by"]),
                   pd.DataFrame(columns=["name", "managed_by"]))


def org_rows(lms: MemoryLms, rows: list[Row], policies: Policies | None = None
             ) -> list[list[str]]:
    """The org changes of a snapshot of ``rows`` for connection c."""
    planned, _ = plan_file(lms, rows, policies=policies)
    assert planned.problems == []
    return planned.plan.org.values.tolist()


def test_departments_from_rows_first_non_blank_wins() -> None:
    rows = pd.DataFrame({
        "employee_id": ["1", "2", "3", "4"],
        "department_code": ["D2", "D1", "D2", ""],
        "department": ["", "Sales", "Finance", "Lost"],
        "parent_department_code": ["D1", "", "", "D9"],
    })
    assert desired_departments(rows).values.tolist() == [["D1", "Sales", ""],
                                                         ["D2", "Finance", "D1"]]
    by_name = pd.DataFrame({"employee_id": ["1"], "department": ["Sales"]})
    assert department_key(by_name.columns) == "department"
    assert desired_departments(by_name).values.tolist() == [["Sales", "Sales", ""]]
    none = pd.DataFrame({"employee_id": ["1"]})
    assert department_key(none.columns) is None
    assert desired_departments(none).empty


def test_cycles_are_named_with_the_whole_chain() -> None:
    assert department_cycles({"A": "B", "B": "C", "C": "A", "D": "A"}) == [["A", "B", "C"]]
    assert department_cycles({"X": "X"}) == [["X"]]
    assert department_cycles({"A": "B", "B": "C", "D": "B"}) == []
    assert department_cycles({"A": "B", "B": "A", "C": "D", "D": "C"}) == [["A", "B"],
                                                                           ["C", "D"]]


def test_the_files_parents_win_over_the_stored_tree() -> None:
    stored = StoredOrg(pd.DataFrame({"code": ["A", "B", "C"], "name": ["a", "b", "c"],
                                     "parent_code": ["B", "", "A"], "managed_by": "c"}),
                       NO_ORG.job_titles)
    want = pd.DataFrame({"code": ["B", "A"], "name": ["b", "a"], "parent_code": ["A", ""]})
    assert tree(want, stored) == {"A": "B", "B": "A", "C": "A"}
    assert department_cycles(tree(want, stored)) == [["A", "B"]]


def test_a_cycle_through_the_stored_tree_rejects_the_file() -> None:
    lms = MemoryLms()
    night(lms, [row("1", dept="A", dept_name="Alpha", parent="B"),
                row("2", dept="B", dept_name="Beta")])
    planned, _ = plan_file(lms, [row("2", dept="B", dept_name="Beta", parent="A")], "delta")
    assert planned.problems == [Problem("department-cycle", "department cycle A → B → A",
                                        "hr.csv", None, "parent", "A")]
    assert planned.plan.org.empty and not planned.plan.org_planned


def test_creates_renames_and_reparents_only_this_connections_departments() -> None:
    lms = MemoryLms()
    night(lms, [row("9", dept="X", dept_name="Theirs", title="Pilot")], connection="o")
    assert org_rows(lms, [row("1", dept="D1", dept_name="Sales", title="Clerk"),
                          row("2", dept="X", dept_name="Ours now", parent="D1",
                              title="Pilot")]) == [
        # Connection o's X and Pilot are o's: this connection makes its own.
        ["department", "create", "D1", "Sales", "", "", ""],
        ["department", "create", "X", "Ours now", "D1", "", ""],
        ["job_title", "create", "Clerk", "Clerk", "", "", ""],
        ["job_title", "create", "Pilot", "Pilot", "", "", ""],
    ]
    night(lms, [row("1", dept="D1", dept_name="Sales", title="Clerk"),
                row("2", dept="D2", dept_name="Fin", parent="D1")])
    assert org_rows(lms, [row("1", dept="D1", dept_name="Sales & Marketing", title="Clerk"),
                          row("2", dept="D2", dept_name="Fin", parent="")]) == [
        ["department", "update", "D1", "Sales & Marketing", "", "Sales", ""],
        ["department", "update", "D2", "Fin", "", "Fin", "D1"],
    ]
    # A blank name keeps the stored one.
    assert org_rows(lms, [row("1", dept="D1", title="Clerk"),
                          row("2", dept="D2", dept_name="Fin", parent="D1")]) == []


def test_a_mapping_without_parents_keeps_the_stored_parent() -> None:
    stored = StoredOrg(pd.DataFrame({"code": ["D2"], "name": ["Fin"], "parent_code": ["D1"],
                                     "managed_by": ["c"]}), NO_ORG.job_titles)
    rows = pd.DataFrame({"employee_id": ["1"], "department_code": ["D2"],
                         "department": ["Finance"]})
    changes = org_changes("c", rows, stored, lambda codes, titles: no_usage(), "keep",
                          set(), False)
    assert changes.values.tolist() == [["department", "update", "D2", "Finance", "D1", "Fin",
                                        "D1"]]


def no_usage() -> pd.DataFrame:
    raise AssertionError("usage is read only for removals")


def test_removals_only_of_our_departments_nobody_active_uses() -> None:
    lms = MemoryLms()
    night(lms, [row("9", dept="X", dept_name="Theirs", title="Pilot")], connection="o")
    night(lms, [row("1", dept="D1", dept_name="Sales", title="Clerk"),
                row("2", dept="D2", dept_name="Fin", parent="D1", title="Boss"),
                row("3", dept="D3", dept_name="Ops", title="Cook")])
    # 2 leaves (their department and title go), 3 moves to D1 (D3 and Cook go); D1 stays
    # and so would a parent of a staying department. X belongs to connection o.
    rows = [row("1", dept="D1", dept_name="Sales", title="Clerk"),
            row("3", dept="D1", dept_name="Sales", title="Clerk")]
    assert org_rows(lms, rows) == [
        ["department", "remove", "D2", "", "", "Fin", "D1"],
        ["department", "remove", "D3", "", "", "Ops", ""],
        ["job_title", "remove", "Boss", "", "", "Boss", ""],
        ["job_title", "remove", "Cook", "", "", "Cook", ""],
    ]
    assert org_rows(lms, rows, policies=Policies(cleanup="keep")) == []
    # Leavers ignored: 2 stays active and keeps D2 and Boss alive.
    assert org_rows(lms, rows, policies=Policies(leavers="ignore")) == [
        ["department", "remove", "D3", "", "", "Ops", ""],
        ["job_title", "remove", "Cook", "", "", "Cook", ""],
    ]


def test_another_connections_same_code_is_its_own_and_a_kept_child_stays() -> None:
    lms = MemoryLms()
    night(lms, [row("1", dept="P", dept_name="Parent"),
                row("2", dept="K", dept_name="Kid", parent="P"),
                row("3", dept="S", dept_name="Shared", title="Chef")])
    night(lms, [row("8", dept="S", title="Chef")], connection="o")
    # Only 2 stays, in K: its parent P stays with it. S and Chef go: o's person 8 uses o's
    # own S and Chef (the same code is another department there), which stay.
    assert org_rows(lms, [row("2", dept="K", dept_name="Kid", parent="P")]) == [
        ["department", "remove", "S", "", "", "Shared", ""],
        ["job_title", "remove", "Chef", "", "", "Chef", ""],
    ]
    theirs = lms.state("o").org()
    assert theirs.departments["code"].tolist() == ["S"]
    assert theirs.job_titles.values.tolist() == [["Chef", "o"]]
    # Nobody keeps K; P goes once K goes.
    assert org_rows(lms, [row("3", dept="S", dept_name="Shared", title="Chef")]) == [
        ["department", "remove", "K", "", "", "Kid", "P"],
        ["department", "remove", "P", "", "", "Parent", ""],
    ]


def test_applied_org_changes_reach_the_store() -> None:
    lms = MemoryLms()
    night(lms, [row("1", dept="D1", dept_name="Sales", title="Clerk"),
                row("2", dept="D2", dept_name="Fin", parent="D1", title="Boss")])
    night(lms, [row("1", dept="D1", dept_name="Sales & Marketing", title="Clerk")])
    org = lms.state("c").org()
    assert org.departments.values.tolist() == [["D1", "Sales & Marketing", "", "c"]]
    assert org.job_titles.values.tolist() == [["Clerk", "c"]]
    again, _ = plan_file(lms, [row("1", dept="D1", dept_name="Sales & Marketing",
                                   title="Clerk")])
    assert again.plan.is_empty()


def test_a_blank_cell_keeps_the_stored_department_and_title_in_use() -> None:
    lms = MemoryLms()
    night(lms, [row("1", dept="D1", dept_name="Sales", title="Chef"),
                row("2", dept="D2", dept_name="Fin", title="Clerk")])
    # 2's row leaves department and title blank: the mapping keeps stored values, so 2
    # still uses D2 and Clerk, and nothing is removed (the next plan would not agree).
    rows = [row("1", dept="D1", dept_name="Sales", title="Chef"), row("2")]
    assert org_rows(lms, rows) == []
    night(lms, rows)
    assert people(lms)["2"] == (True, "2@x.org", "D2", "Clerk")
    again, _ = plan_file(lms, rows)
    assert again.plan.is_empty()


def test_a_blank_cell_of_a_field_that_clears_moves_the_person_away() -> None:
    stored = StoredOrg(pd.DataFrame({"code": ["D1", "D2"], "name": ["a", "b"],
                                     "parent_code": ["", ""], "managed_by": ["c", "c"]}),
                       pd.DataFrame({"name": ["Clerk"], "managed_by": ["c"]}))
    rows = pd.DataFrame({"employee_id": ["1", "2"], "department_code": ["D1", ""],
                         "department": ["a", ""], "job_title": ["", ""]})

    def usage(codes: object, titles: object) -> pd.DataFrame:
        return pd.DataFrame([("department", "D2", "c", "2"), ("job_title", "Clerk", "c", "2")],
                            columns=["kind", "value", "managed_by", "employee_id"])

    kept = org_changes("c", rows, stored, usage, "remove-empty", set(), False,
                       frozenset({"department_code", "job_title"}))
    assert kept.empty
    cleared = org_changes("c", rows, stored, usage, "remove-empty", set(), False, frozenset())
    assert cleared.values.tolist() == [["department", "remove", "D2", "", "", "b", ""],
                                       ["job_title", "remove", "Clerk", "", "", "Clerk", ""]]
    # A field the file does not map says nothing about the person: the title stays in use.
    no_titles = rows.drop(columns=["job_title"])
    assert org_changes("c", no_titles, stored, usage, "remove-empty", set(), False,
                       frozenset()).values.tolist() == [
        ["department", "remove", "D2", "", "", "b", ""]]
