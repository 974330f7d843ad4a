"""Group memberships: which group adds and removes make the LMS match the rules.

Rules are evaluated column-wise (Arrow masks over the file's mapped columns, a
handful of vectorised passes for manager hierarchies); the desired and the stored
memberships meet as 64-bit keys (group code × people + position), so a million people
in twenty groups cost array operations, never a Python loop per person.

Who is touched: only memberships this connection made (``ours``). A member someone
added by hand is never removed, and a rule that matches them adds nothing. A person
whose row is not in this file (a rejected row, a delta night) keeps their groups,
except that a group no rule names any more is emptied on a snapshot night.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.columnar import arrow_text, is_in, positions_of
from filebridge.mapping.groups import VALUE_SLOT, Condition, GroupRule
from filebridge.person import KEY
from filebridge.plan.model import GROUP_COLUMNS, FileKind

_NO_NAMES = np.zeros(0, dtype=object)


@dataclass(frozen=True)
class GroupPlan:
    """The group changes of one plan and the numbers the report and the guard need."""

    changes: pd.DataFrame  # GROUP_COLUMNS, adds first
    members: int  # memberships this connection had before the plan
    no_group: int  # people staying active whom no rule puts in any group


class _Columns:
    """The file's columns as Arrow arrays, converted once however many rules read them."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.cache: dict[str, pa.Array] = {}

    def __call__(self, name: str) -> pa.Array:
        if name not in self.cache:
            column = self.frame[name] if name in self.frame else pd.Series(
                [""] * len(self.frame), dtype="str")
            self.cache[name] = arrow_text(column.fillna(""))
        return self.cache[name]


def matches(cond: Condition, columns: _Columns, size: int) -> np.ndarray:
    """Boolean mask of the rows ``cond`` matches."""
    if cond.op == "is":
        hit = pc.equal(columns(cond.field), pa.scalar(cond.values[0], pa.large_string()))
        return hit.fill_null(False).to_numpy(zero_copy_only=False)
    if cond.op == "in":
        hit = pc.is_in(columns(cond.field), value_set=pa.array(cond.values, pa.large_string()))
        return hit.fill_null(False).to_numpy(zero_copy_only=False)
    if cond.op == "not":
        return ~matches(cond.operands[0], columns, size)
    masks = [matches(o, columns, size) for o in cond.operands]
    if cond.op == "all":
        return np.logical_and.reduce(masks) if masks else np.ones(size, dtype=bool)
    return np.logical_or.reduce(masks) if masks else np.zeros(size, dtype=bool)


def reports_to(manager: str, manager_ids: pd.Series, ids: pd.Series) -> np.ndarray:
    """Who reports to ``manager``, directly or through other managers of the file.

    One vectorised pass per level of the hierarchy; a cycle (rejected earlier anyway)
    cannot loop, because each pass only adds people and stops when none is added.
    """
    above = positions_of(manager_ids.fillna(""), ids)
    reach = (manager_ids.fillna("") == manager).to_numpy()
    has_manager = above >= 0
    for _ in range(len(ids)):
        grown = reach.copy()
        grown[has_manager] |= reach[above[has_manager]]
        if (grown == reach).all():
            break
        reach = grown
    return reach


def desired_pairs(rules: Sequence[GroupRule], desired: pd.DataFrame, staying: np.ndarray,
                  file_kind: FileKind) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``desired`` and group names of every membership the rules want."""
    columns = _Columns(desired)
    size = len(desired)
    positions: list[np.ndarray] = []
    names: list[np.ndarray] = []
    for rule in rules:
        if rule.kind == "reports_to" and file_kind == "delta":
            continue  # a delta file does not hold the whole hierarchy
        mask = staying.copy()
        if rule.when is not None:
            mask &= matches(rule.when, columns, size)
        if rule.kind == "reports_to":
            mask &= reports_to(rule.manager, desired.get(
                "manager_id", pd.Series([""] * size, dtype="str")), desired[KEY])
        at = np.flatnonzero(mask)
        if rule.kind == "field":
            values = desired[rule.field].iloc[at].fillna("").astype(str)
            keep = (values != "").to_numpy()
            at, values = at[keep], values[keep]
            prefix, _, suffix = rule.name.partition(VALUE_SLOT)
            names.append((prefix + values + suffix).to_numpy(dtype=object))
        else:
            names.append(np.full(len(at), rule.name, dtype=object))
        positions.append(at)
    if not positions:
        return np.zeros(0, dtype=np.int64), _NO_NAMES
    return np.concatenate(positions).astype(np.int64), np.concatenate(names)


def plan_groups(rules: Sequence[GroupRule], desired: pd.DataFrame, staying: np.ndarray,
                actual: pd.DataFrame, leaving: pd.Series, rekeys: pd.DataFrame,
                file_kind: FileKind) -> GroupPlan:
    """The group adds and removes that make ``actual`` (the stored memberships of this
    connection's groups: ``group, employee_id, ours``) match the rules.

    ``staying``: which rows of ``desired`` are active after the plan; ``leaving``: ids
    the plan deactivates or deletes (they leave every group this connection gave them).
    """
    size = len(desired)
    want_pos, want_names = desired_pairs(rules, desired, staying, file_kind)
    codes, uniques = pd.factorize(pd.Series(want_names, dtype=object))
    want = codes.astype(np.int64) * (size + 1) + want_pos
    # The stored memberships under the ids the plan gives people (rehires re-keyed).
    ids = actual[KEY].astype(str)
    if len(rekeys) and len(actual):
        renamed = dict(zip(rekeys["old_employee_id"].astype(str),
                           rekeys[KEY].astype(str), strict=False))
        ids = ids.map(lambda i: renamed.get(i, i))
    have_pos = positions_of(ids, desired[KEY]) if len(actual) else np.zeros(0, dtype=np.int64)
    have_code = pd.Index(uniques).get_indexer(actual["group"].astype(str)) if len(actual) \
        else np.zeros(0, dtype=np.int64)
    known = (have_pos >= 0) & (have_code >= 0)
    have = np.where(known, have_code.astype(np.int64) * (size + 1) + have_pos, -1)
    ours = actual["ours"].to_numpy(dtype=bool) if len(actual) else np.zeros(0, dtype=bool)
    add = ~np.isin(want, have[known])
    lines = desired["line"].to_numpy() if "line" in desired else np.full(size, None)
    adds = pd.DataFrame({KEY: desired[KEY].to_numpy()[want_pos[add]],
                         "group": want_names[add], "action": "add",
                         "line": lines[want_pos[add]]})
    ruled = {r.name for r in rules if r.kind != "field"} | set(uniques)
    stored_groups = actual["group"].astype(str)
    in_scope = (have_pos >= 0) | is_in(ids, leaving)
    if file_kind == "delta":
        # A delta file names some people only: nothing is orphaned by it, and the
        # hierarchy (which it does not hold) stays as it is for everyone not leaving.
        hierarchy = {r.name for r in rules if r.kind == "reports_to"}
        in_scope &= ~stored_groups.isin(hierarchy).to_numpy() | is_in(ids, leaving)
        orphan = np.zeros(len(actual), dtype=bool)
    else:
        orphan = ~stored_groups.isin(ruled).to_numpy()
    drop = ours & (orphan | (in_scope & ~np.isin(have, want)))
    removed_at = have_pos[drop]
    removed_lines = np.full(len(removed_at), None, dtype=object)
    removed_lines[removed_at >= 0] = lines[removed_at[removed_at >= 0]]
    removes = pd.DataFrame({KEY: ids[drop].to_numpy(),
                            "group": stored_groups[drop].to_numpy(), "action": "remove",
                            "line": removed_lines})
    changes = pd.concat([adds, removes], ignore_index=True).loc[:, list(GROUP_COLUMNS)]
    grouped = np.zeros(size, dtype=bool)
    grouped[want_pos] = True
    return GroupPlan(changes, int(ours.sum()), int((staying & ~grouped).sum()))

