"""The whole plan of one run, as a pure function of (mapped records, actual state, policy).

Filters, rehires, e-mail clashes, leaver policy, skipped rows, departments and job
titles: every rule that decides what a file changes lives here or in the modules it
calls; everything it knows of the LMS comes through ``ActualState``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from filebridge.columnar import is_in, positions_of
from filebridge.mapping import MappedRecords, Mapping
from filebridge.person import KEY
from filebridge.plan.diff import DiffOptions, diff
from filebridge.plan.groups import plan_groups, stored_groups
from filebridge.plan.identity import email_change_conflicts, resolve
from filebridge.plan.model import SKIPPED_COLUMNS, FileKind, Plan
from filebridge.plan.org import department_cycles, desired_departments, org_changes, tree
from filebridge.plan.policy import Policies, filtered_rows
from filebridge.plan.state import ActualState
from filebridge.problems import Problem


@dataclass(frozen=True)
class Planned:
    """A plan, the file problems that stop the run (department cycles), and how many
    active people the connection had when it was made (the guard's base)."""

    plan: Plan
    problems: list[Problem]
    managed: int


def make_plan(mapping: Mapping, records: MappedRecords, file: str, file_kind: FileKind,
              state: ActualState, policies: Policies, now: datetime,
              unparsed: Sequence[str] = ()) -> Planned:
    """The plan for these records against ``state``.

    Rows found to clash (an email held by someone else) are rejected in ``records``.
    ``unparsed``: raw text of rows the reader could not split; the managed ids in it are
    never leavers of this file.
    """
    connection = state.connection
    snapshot = state.snapshot(group_fingerprints=bool(mapping.groups))
    accepted = records.accepted()
    outside, filtered = filtered_rows(accepted, policies)
    desired = accepted.loc[~outside]
    # Where each row's person sits in the snapshot: one hash lookup shared by every step.
    positions = positions_of(desired[KEY], snapshot[KEY])
    ids = resolve(connection, desired, snapshot, state.holders_of_emails, policies, file_kind,
                  positions >= 0)
    _reject_clashes(records, ids.conflicts, file, mapping)
    if len(ids.conflicts):
        keep = ~is_in(desired[KEY], ids.conflicts[KEY])
        desired, positions = desired.loc[keep], positions[keep]
    expired: frozenset[str] = frozenset()
    if policies.leavers == "delete":
        cutoff = now - timedelta(days=policies.delete_grace_days)
        expired = state.inactive_since(cutoff)
    names, keep_blank, lms_owned = _planned_fields(mapping)
    options = DiffOptions(
        file_kind, keep_blank,
        frozenset(records.rejected_keys() | _ids_in_unparsed_rows(unparsed, snapshot)),
        lms_owned, policies.leavers, policies.delete_grace_days, expired, filtered,
        ids.rekeys, _hr_drift(state.drift(), lms_owned))
    plan = diff(connection, desired, names, snapshot, state.fetch, options, positions)
    clashes = email_change_conflicts(connection, plan.updates, desired, snapshot,
                                     state.holders_of_emails, policies, file_kind)
    _reject_clashes(records, clashes, file, mapping)
    plan.drop_people(set(clashes[KEY]))
    clashing = is_in(desired[KEY], clashes[KEY])
    desired, positions = desired.loc[~clashing], positions[~clashing]
    # A row without a work email is rejected (missing-email, in the reject file), never
    # listed as skipped as well: one row, one outcome.
    plan.skipped = pd.concat([filtered, plan.skipped],
                             ignore_index=True).loc[:, list(SKIPPED_COLUMNS)]
    # Who stays active, found once for departments and groups alike.
    staying = _staying(plan, desired, snapshot, policies)
    problems = _org(state, plan, desired.loc[staying], mapping, policies, file)
    if mapping.groups and not problems:
        _groups(state, plan, desired, staying, snapshot, positions, mapping)
    return Planned(plan, problems, int(snapshot["active"].sum()))


def _planned_fields(mapping: Mapping) -> tuple[tuple[str, ...], frozenset[str],
                                               frozenset[str]]:
    """The fields the plan keeps in step, those whose blank keeps the stored value, and
    those set at creation only.

    A manager named by work email is resolved to their employee id during validation;
    the LMS keeps both, and the id follows the email's rules.
    """
    names = mapping.names
    keep_blank = {f.name for f in mapping.fields if f.empty == "keep"}
    lms_owned = set(mapping.lms_owned)
    if "manager_email" in names and "manager_id" not in names:
        names = (*names, "manager_id")
        keep_blank |= {"manager_id"} if "manager_email" in keep_blank else set()
        lms_owned |= {"manager_id"} if "manager_email" in lms_owned else set()
    return names, frozenset(keep_blank), frozenset(lms_owned)


def _hr_drift(marks: pd.DataFrame, lms_owned: frozenset[str]) -> pd.DataFrame:
    """Drift marks on HR-owned fields: LMS-owned fields may change in the LMS at will."""
    return marks.loc[~marks["field"].isin(lms_owned)].reset_index(drop=True)


def _reject_clashes(records: MappedRecords, clashes: pd.DataFrame, file: str,
                    mapping: Mapping) -> None:
    if clashes.empty:
        return
    frame = records.frame
    column = mapping.column_names().get("email", "email")
    hit = np.flatnonzero(is_in(frame[KEY], clashes[KEY]) & ~records.rejected)
    records.rejected[hit] = True
    for row in clashes.itertuples(index=False):
        records.problems.add(Problem(
            "email-in-use", f"work email {row.email!r} belongs to {row.holder}, an active LMS "
            "user; never merged", file, int(row.line), column, str(row.email)))


def _org(state: ActualState, plan: Plan, staying: pd.DataFrame, mapping: Mapping,
         policies: Policies, file: str) -> list[Problem]:
    """Plan department and job title changes for the rows of people who stay active;
    department cycles are file problems."""
    leaving = set(plan.deactivations[KEY]) | set(plan.deletes[KEY])
    stored = state.org()
    cycles = department_cycles(tree(desired_departments(staying), stored))
    if cycles:
        column = mapping.column_names().get("parent_department_code")
        return [Problem("department-cycle", "department cycle " + " → ".join([*c, c[0]]),
                        file, None, column, c[0]) for c in cycles]
    plan.org = org_changes(plan.connection, staying, stored,
                           lambda codes, titles: state.org_usage(mapping.names, codes, titles),
                           policies.cleanup, leaving,
                           "parent_department_code" in mapping.names,
                           _planned_fields(mapping)[1])
    plan.org_planned = True
    return []


def _staying(plan: Plan, desired: pd.DataFrame, snapshot: pd.DataFrame,
             policies: Policies) -> np.ndarray:
    """Which people of the file are active after the plan: active rows, and inactive rows
    of active people when leavers are ignored; never the plan's leavers."""
    leaving = set(plan.deactivations[KEY]) | set(plan.deletes[KEY])
    active = (desired["status"] != "inactive").to_numpy() if "status" in desired else \
        np.ones(len(desired), dtype=bool)
    if policies.leavers == "ignore":
        was_active = snapshot.loc[snapshot["active"].astype(bool), KEY]
        active = active | is_in(desired[KEY], was_active)
    return active & ~is_in(desired[KEY], leaving)


def _groups(state: ActualState, plan: Plan, desired: pd.DataFrame, staying: np.ndarray,
            snapshot: pd.DataFrame, positions: np.ndarray, mapping: Mapping) -> None:
    """Plan the group memberships the mapping's rules ask for (``staying``: which desired
    rows stay active; ``positions``: each one's place in ``snapshot``, found once for
    the diff)."""
    leaving = pd.concat([plan.deactivations[KEY], plan.deletes[KEY]]).astype(str)
    stored = stored_groups(snapshot, positions, state.group_drift(), state.memberships)
    grouped = plan_groups(mapping.groups, desired, staying, stored, leaving, plan.rekeys,
                          plan.file_kind)
    plan.groups, plan.group_members = grouped.changes, grouped.members
    plan.group_fingerprints, plan.group_drift = grouped.fingerprints, grouped.drift
    plan.no_group, plan.groups_planned = grouped.no_group, True


def _ids_in_unparsed_rows(raw: Sequence[str], snapshot: pd.DataFrame) -> set[str]:
    """Managed ids that appear in rows the reader could not split (never leavers for it)."""
    if not raw:
        return set()
    tokens = {t.strip().strip('"') for text in raw for t in
              text.replace(";", ",").replace("|", ",").replace("\t", ",").split(",")}
    managed = snapshot[KEY]
    return set(managed[is_in(managed, tokens)].tolist())
