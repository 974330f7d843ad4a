"""Who is who: rehires re-keyed by email, and emails that belong to someone else."""

from __future__ import annotations

import pandas as pd

from filebridge.lms.memory import MemoryLms
from filebridge.plan.identity import email_change_conflicts, resolve
from filebridge.plan.policy import Policies
from filebridge.problems import Problem
from tests.plan.nights import NOW, night, people, plan_file, row

BY_EMAIL = Policies(rehire_match="employee_id_or_email")


def desired(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """employee_id, email, status rows with lines from 2."""
    frame = pd.DataFrame(list(rows), columns=["employee_id", "email", "status"], dtype="str")
    frame["line"] = range(2, len(frame) + 2)
    return frame


def with_leaver() -> MemoryLms:
    """Connection c: 1 (a@x.org) deactivated, 2 (2@x.org) active."""
    lms = MemoryLms()
    night(lms, [row("1", "a@x.org"), row("2")])
    night(lms, [row("2")])
    assert people(lms) == {"1": (False, "a@x.org", "", ""), "2": (True, "2@x.org", "", "")}
    return lms


def email_problem(line: int, email: str, holder: str) -> Problem:
    return Problem("email-in-use", f"work email {email!r} belongs to {holder}, an active LMS "
                   "user; never merged", "hr.csv", line, "mail", email)


def test_a_rehire_under_a_new_id_is_matched_on_email_only_when_allowed() -> None:
    state = with_leaver().state("c")
    rows = desired(("9", "a@x.org", "active"))
    ids = resolve("c", rows, state.snapshot(), state.holders_of_emails, BY_EMAIL, "snapshot")
    assert ids.rekeys.values.tolist() == [["9", "1", 2]]
    assert ids.conflicts.empty
    plain = resolve("c", rows, state.snapshot(), state.holders_of_emails, Policies(), "snapshot")
    assert plain.rekeys.empty and plain.conflicts.empty
    # An inactive row is no rehire, and a row already in the LMS is matched on its id.
    gone = resolve("c", desired(("9", "a@x.org", "inactive")), state.snapshot(),
                   state.holders_of_emails, BY_EMAIL, "snapshot")
    assert gone.rekeys.empty and gone.conflicts.empty


def test_a_rehire_keeps_the_account_under_the_new_id() -> None:
    lms = with_leaver()
    planned, _ = plan_file(lms, [row("2"), row("9", "a@x.org")], policies=BY_EMAIL)
    plan = planned.plan
    assert plan.rekeys.values.tolist() == [["9", "1", 3]]
    assert plan.reactivations.values.tolist() == [["9", "rehired: matched on work email", 3]]
    assert plan.creates.empty and plan.deactivations.empty
    lms.apply(plan, 3, NOW)
    assert people(lms) == {"2": (True, "2@x.org", "", ""), "9": (True, "a@x.org", "", "")}
    assert lms.users("c").set_index("employee_id").at["9", "updated_at"] == NOW
    again, _ = plan_file(lms, [row("2"), row("9", "a@x.org")], policies=BY_EMAIL)
    assert again.plan.is_empty()


def test_without_email_matching_a_rehire_is_a_new_account() -> None:
    lms = with_leaver()
    planned, _ = plan_file(lms, [row("2"), row("9", "a@x.org")])
    assert planned.plan.rekeys.empty
    assert planned.plan.creates["employee_id"].tolist() == ["9"]


def test_an_email_held_by_another_active_person_is_a_conflict_never_a_merge() -> None:
    lms = MemoryLms()
    night(lms, [row("1", "a@x.org"), row("2")])
    planned, records = plan_file(lms, [row("3", "a@x.org")], "delta", policies=BY_EMAIL)
    assert planned.plan.is_empty() and planned.plan.rekeys.empty
    assert records.problems.items == [email_problem(2, "a@x.org", "1 (c)")]
    assert records.rejected.tolist() == [True]
    state = lms.state("c")
    ids = resolve("c", desired(("3", "a@x.org", "active")), state.snapshot(),
                  state.holders_of_emails, BY_EMAIL, "delta")
    assert ids.conflicts.values.tolist() == [["3", "a@x.org", 2, "1 (c)"]]
    assert ids.rekeys.empty


def test_a_holder_leaving_in_this_snapshot_or_moving_away_frees_the_email() -> None:
    lms = MemoryLms()
    night(lms, [row("1", "a@x.org"), row("2")])
    # 1 is missing from the snapshot: a leaver, so 3 may take the address.
    leaving, records = plan_file(lms, [row("2"), row("3", "a@x.org")])
    assert records.problems.items == []
    assert leaving.plan.creates["employee_id"].tolist() == ["3"]
    assert leaving.plan.deactivations["employee_id"].tolist() == ["1"]
    # With leavers ignored 1 stays active, so the address is still theirs.
    kept, records = plan_file(lms, [row("2"), row("3", "a@x.org")],
                              policies=Policies(leavers="ignore"))
    assert records.problems.items == [email_problem(3, "a@x.org", "1 (c)")]
    assert kept.plan.is_empty()
    # 1's own row moves to another address.
    moved, records = plan_file(lms, [row("1", "new@x.org"), row("2"), row("3", "a@x.org")])
    assert records.problems.items == []
    assert moved.plan.updates[["employee_id", "field", "old", "new"]].values.tolist() == [
        ["1", "email", "a@x.org", "new@x.org"]]
    assert moved.plan.creates["employee_id"].tolist() == ["3"]


def test_other_connections_and_unmanaged_accounts_are_never_taken_over() -> None:
    lms = MemoryLms()
    night(lms, [row("7", "o@x.org"), row("8", "d@x.org")], connection="o")
    night(lms, [row("7", "o@x.org")], connection="o")  # 8 of o is deactivated
    lms.add_unmanaged("u1", email="u@x.org")
    planned, records = plan_file(
        lms, [row("3", "o@x.org"), row("4", "u@x.org"), row("5", "d@x.org")], "delta",
        policies=BY_EMAIL)
    assert records.problems.items == [email_problem(2, "o@x.org", "7 (o)"),
                                      email_problem(3, "u@x.org", "u1 (not managed)")]
    # Another connection's deactivated account is neither a rehire nor a clash.
    assert planned.plan.rekeys.empty
    assert planned.plan.creates["employee_id"].tolist() == ["5"]
    lms.apply(planned.plan, 3, NOW)
    assert people(lms, "o") == {"7": (True, "o@x.org", "", ""), "8": (False, "d@x.org", "", "")}
    assert people(lms, None)["u1"] == (True, "u@x.org", "", "")


def test_an_email_change_onto_someone_elses_address_is_rejected() -> None:
    lms = MemoryLms()
    night(lms, [row("1", "a@x.org"), row("2", "b@x.org")])
    planned, records = plan_file(lms, [row("1", "b@x.org")], "delta")
    assert records.problems.items == [email_problem(2, "b@x.org", "2 (c)")]
    assert planned.plan.is_empty() and planned.plan.fingerprints.empty
    state = lms.state("c")
    updates = pd.DataFrame({"employee_id": ["1"], "field": ["email"], "old": ["a@x.org"],
                            "new": ["b@x.org"], "line": [2]})
    rows = desired(("1", "b@x.org", "active"))
    assert email_change_conflicts("c", updates, rows, state.snapshot(), state.holders_of_emails,
                                  Policies(), "delta").values.tolist() == [
        ["1", "b@x.org", 2, "2 (c)"]]
    # Two people swapping addresses in one snapshot is no clash.
    swapped, records = plan_file(lms, [row("1", "b@x.org"), row("2", "a@x.org")])
    assert records.problems.items == []
    assert sorted(swapped.plan.updates[["employee_id", "new"]].values.tolist()) == [
        ["1", "b@x.org"], ["2", "a@x.org"]]
    # Blanking an email (a blank cell) is never a clash.
    blank = updates.assign(new="")
    assert email_change_conflicts("c", blank, rows, state.snapshot(), state.holders_of_emails,
                                  Policies(), "delta").empty
