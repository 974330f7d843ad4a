"""Whole-file validation: duplicates, unknown and self managers, manager cycles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from filebridge.lms.memory import MemoryLms, MemoryState
from filebridge.mapping import apply_mapping, mapping_from_dict
from filebridge.plan import validate_file

M = mapping_from_dict(Path("m.yaml"), {"version": 1, "fields": {
    "employee_id": {"column": "id"}, "email": {"column": "mail"},
    "manager_id": {"column": "mgr"}}})


def check(rows, known=()):
    df = pd.DataFrame(rows, columns=["id", "mail", "mgr"]).astype("str")
    records = apply_mapping(M, df, np.arange(2, len(rows) + 2), "f.csv")
    lms = MemoryLms()
    for employee_id in known:
        lms.add_unmanaged(employee_id)
    validate_file(records, "f.csv", lms.state("acme"))
    return records


def test_duplicate_key_rejects_both_rows_naming_each_other():
    r = check([("1", "a@x.io", ""), ("2", "b@x.io", ""), ("1", "c@x.io", "")])
    assert r.rejected.tolist() == [True, False, True]
    assert r.problems.flatten(["line", "code", "related_lines"]) == [
        [2, "duplicate-key", (4,)], [4, "duplicate-key", (2,)]]


def test_two_people_sharing_an_email_are_never_merged():
    r = check([("1", "Same@x.io", ""), ("2", "same@x.io ", "")])
    assert r.rejected.tolist() == [True, True]
    assert {p.code for p in r.problems.items} == {"duplicate-email"}


def test_unknown_manager_unless_in_file_or_lms():
    r = check([("1", "a@x.io", "9"), ("2", "b@x.io", "1"), ("3", "c@x.io", "77")], known={"77"})
    assert r.problems.flatten(["line", "code", "value"]) == [[2, "unknown-manager", "9"]]


def test_self_manager():
    r = check([("1", "a@x.io", "1")])
    assert r.problems.flatten(["code"]) == [["self-manager"]]


def test_manager_cycle_names_the_whole_chain_whatever_the_row_order():
    r = check([("C", "c@x.io", "A"), ("X", "x@x.io", "A"), ("A", "a@x.io", "B"),
               ("B", "b@x.io", "C"), ("Y", "y@x.io", "")])
    assert r.rejected.tolist() == [True, False, True, True, False]
    messages = {p.message for p in r.problems.items}
    assert len(messages) == 1
    (message,) = messages
    chain = message.removeprefix("manager cycle ").split(" → ")
    assert chain[0] == chain[-1] and set(chain) == {"A", "B", "C"}
    assert all(p.related_lines and len(p.related_lines) == 3 for p in r.problems.items)


def test_deep_hierarchy_without_cycle_is_fine():
    rows = [(str(i), f"p{i}@x.io", str(i - 1) if i else "") for i in range(500)]
    assert not check(rows).rejected.any()


ME = mapping_from_dict(Path("m.yaml"), {"version": 1, "fields": {
    "employee_id": {"column": "id"}, "email": {"column": "mail"},
    "manager_email": {"column": "boss"}}})


def check_emails(rows, lms=None):
    df = pd.DataFrame(rows, columns=["id", "mail", "boss"]).astype("str")
    records = apply_mapping(ME, df, np.arange(2, len(rows) + 2), "f.csv")
    asked: list[str] = []

    class Asked(MemoryState):
        """The LMS's real answers, noting which addresses were asked about."""

        def manager_ids_by_email(self, emails):
            asked.extend(emails)
            return super().manager_ids_by_email(emails)

    store = MemoryLms()
    for email, employee_id in (lms or {}).items():
        store.add_unmanaged(employee_id, email=email)
    validate_file(records, "f.csv", Asked(store, "acme"), ME.column_names())
    return records, asked


def test_manager_emails_resolve_in_the_file_first_then_in_the_lms():
    r, asked = check_emails([("1", "boss@x.io", ""), ("2", "b@x.io", "Boss@x.io"),
                             ("3", "c@x.io", "ceo@x.io"), ("4", "d@x.io", "ghost@x.io")],
                            lms={"ceo@x.io": "900"})
    assert r.frame["manager_id"].tolist() == ["", "1", "900", ""]
    assert asked == ["ceo@x.io", "ghost@x.io"]  # only addresses the file cannot answer
    assert r.problems.flatten(["line", "code", "column", "value"]) == [
        [5, "unknown-manager", "boss", "ghost@x.io"]]


def test_manager_emails_catch_self_managers_and_cycles():
    r, _ = check_emails([("1", "a@x.io", "a@x.io"), ("2", "b@x.io", "c@x.io"),
                         ("3", "c@x.io", "b@x.io"), ("4", "d@x.io", "b@x.io")])
    assert r.rejected.tolist() == [True, True, True, False]
    assert {p.code for p in r.problems.items} == {"self-manager", "manager-cycle"}
