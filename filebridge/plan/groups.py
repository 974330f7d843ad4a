"""Group memberships: which group adds and removes make the LMS match the rules.

Rules are evaluated column-wise (each tested field dictionary-encoded once, so a
condition looks at its distinct values and picks rows by integer code; a handful of
vectorised passes for manager hierarchies). A membership is a row position and a group
code, never a text per person; the desired and the stored memberships meet as 64-bit
keys (group code × people + position), so a million people in twenty groups cost
array operations, never a Python loop per person.

Who is touched: only memberships this connection made (``ours``). A member someone
added by hand is never removed, and a rule that matches them adds nothing. A person
whose row is not in this file (a rejected row, a delta night) keeps their groups,
except that a group no rule names any more is emptied on a snapshot night.

Unchanged people cost no membership read: each person's stored group fingerprint is a
64-bit hash of the rules' own digest and the set of groups the rules gave them. Only
people whose fingerprint differs (their fields moved them, or the rules changed, which
changes everyone's), leavers, rehires and people with a membership removed outside
filebridge (drift) have their memberships read, plus every member of a group no rule
names any more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.columnar import arrow_text, is_in, positions_among_few
from filebridge.mapping.groups import VALUE_SLOT, Condition, GroupRule
from filebridge.person import KEY
from filebridge.plan.model import (
    GROUP_COLUMNS,
    GROUP_DRIFT_COLUMNS,
    GROUP_FINGERPRINT_COLUMNS,
    FileKind,
)

_NO_NAMES = np.zeros(0, dtype=object)
# Above this share of the connection's people, one read of every membership is cheaper
# than looking the candidates up by id.
FULL_READ_SHARE = 0.2

# Reads the stored memberships: (people or None for all, group names kept by the rules
# or None) -> ``group, employee_id, ours`` (see ``ActualState.memberships``).
MembershipReader = Callable[[Sequence[str] | None, Collection[str] | None], pd.DataFrame]


@dataclass(frozen=True)
class StoredGroups:
    """What the plan knows of the stored memberships before reading any."""

    # The stored group fingerprint of each row of the plan's desired records (0: none
    # kept, or a person the store does not have under this id).
    fingerprints: np.ndarray
    # Which rows' people the store has under this id: the others have no memberships.
    in_store: np.ndarray
    known: int  # people whose fingerprints the store keeps (0: it keeps none)
    drift: pd.DataFrame  # employee_id, group: removed outside filebridge
    read: MembershipReader


@dataclass(frozen=True)
class GroupPlan:
    """The group changes of one plan and the numbers the report and the guard need."""

    changes: pd.DataFrame  # GROUP_COLUMNS, adds first
    members: int  # memberships this connection had before the plan
    no_group: int  # people staying active whom no rule puts in any group
    fingerprints: pd.DataFrame  # GROUP_FINGERPRINT_COLUMNS of every person compared
    drift: pd.DataFrame  # GROUP_DRIFT_COLUMNS: removed outside filebridge, put back


def rules_digest(rules: Sequence[GroupRule]) -> np.uint64:
    """A 64-bit digest of the rules themselves: any added, removed or edited rule
    changes every person's group fingerprint, so everyone is compared again."""
    text = "\n".join(repr(r) for r in rules).encode()
    return np.uint64(int.from_bytes(hashlib.sha256(text).digest()[:8], "little"))


def set_fingerprints(digest: np.uint64, positions: np.ndarray, hashes: np.ndarray,
                     sizes: Sequence[int], size: int) -> np.ndarray:
    """Each person's group fingerprint (int64, never 0): the digest mixed with the sum
    of their groups' name hashes (a sum: the order rules list them does not matter).

    ``positions``/``hashes`` are the memberships rule by rule (``sizes`` each); within
    one rule a person appears once, so each rule is one vectorised scatter-add."""
    total = np.zeros(size, dtype=np.uint64)
    start = 0
    for n in sizes:
        total[positions[start:start + n]] += hashes[start:start + n]
        start += n
    mixed = pd.util.hash_array(total ^ digest).view(np.int64)
    return np.where(mixed == 0, 1, mixed)


class _Columns:
    """The file's columns as Arrow arrays, converted once however many rules read them,
    and the manager hierarchy, walked once however many ``reports_to`` rules use it."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.cache: dict[str, pa.Array] = {}
        self.codes: dict[str, tuple[np.ndarray, pa.Array]] = {}
        self._above: np.ndarray | None = None

    def __call__(self, name: str) -> pa.Array:
        if name not in self.cache:
            column = self.frame[name] if name in self.frame else pd.Series(
                [""] * len(self.frame), dtype="str")
            self.cache[name] = arrow_text(column.fillna(""))
        return self.cache[name]

    def coded(self, name: str) -> tuple[np.ndarray, pa.Array]:
        """The column as each row's code and the distinct values at those codes.

        Rules test the same few fields over and over (department, country): one hash
        pass per field, then each test looks at the distinct values only and picks the
        rows by integer code.
        """
        if name not in self.codes:
            encoded = pc.dictionary_encode(self(name))
            self.codes[name] = (encoded.indices.to_numpy(zero_copy_only=False),
                                encoded.dictionary)
        return self.codes[name]

    def above(self) -> np.ndarray:
        """Each row's manager as a row position (-1: none, or not in the file)."""
        if self._above is None:
            # Far fewer managers than people: hash the managers, not the whole file.
            self._above = positions_among_few(self("manager_id"), self(KEY))
        return self._above


def matches(cond: Condition, columns: _Columns, size: int) -> np.ndarray:
    """Boolean mask of the rows ``cond`` matches."""
    if cond.op in ("is", "in"):
        codes, values = columns.coded(cond.field)
        accepted = pc.is_in(values, value_set=pa.array(cond.values, pa.large_string()))
        which = np.flatnonzero(accepted.to_numpy(zero_copy_only=False))
        if len(which) == 1:
            return codes == which[0]  # one comparison per row, no gather
        return np.isin(codes, which)
    if cond.op == "not":
        return ~matches(cond.operands[0], columns, size)
    masks = [matches(o, columns, size) for o in cond.operands]
    if cond.op == "all":
        return np.logical_and.reduce(masks) if masks else np.ones(size, dtype=bool)
    return np.logical_or.reduce(masks) if masks else np.zeros(size, dtype=bool)


def reports_to(manager: str, columns: _Columns) -> np.ndarray:
    """Who reports to ``manager``, directly or through other managers of the file.

    The rows below ``manager`` grow level by level: each pass marks the rows whose
    manager is marked, over the rows not marked yet that have a manager in the file, so
    a pass costs the rows still outside (a cycle, rejected earlier anyway, cannot loop:
    each pass only adds rows and the walk stops when none is added).
    """
    reach = pc.equal(columns("manager_id"), pa.scalar(manager, pa.large_string()))
    reach = reach.fill_null(False).to_numpy(zero_copy_only=False)
    above = columns.above()
    open_at = np.flatnonzero((above >= 0) & ~reach)
    while len(open_at):
        hit = reach[above[open_at]]
        if not hit.any():
            break
        reach[open_at[hit]] = True
        open_at = open_at[~hit]
    return reach


@dataclass(frozen=True)
class Wanted:
    """The memberships the rules want, as row positions and group codes (no text per
    membership: a million people in twenty groups stay a few integer arrays)."""

    positions: np.ndarray  # int64 rows of the desired records
    codes: np.ndarray  # int64 index into ``names``
    names: np.ndarray  # object: each group name once
    sizes: list[int]  # how many memberships each rule gave, in rule order


class _Names:
    """Group names numbered in order of first sight (one code per name across rules)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code_of(self, names: Sequence[str]) -> np.ndarray:
        """The code of each name, numbering new ones."""
        return np.array([self.codes.setdefault(n, len(self.codes)) for n in names],
                        dtype=np.int64)

    def table(self) -> np.ndarray:
        """Every name, at its code."""
        return np.array(list(self.codes), dtype=object)


def _field_codes(rule: GroupRule, columns: _Columns, at: np.ndarray, numbered: _Names
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The rows among ``at`` with a value in the rule's field and their groups' codes:
    the distinct values are named once, not each member's."""
    all_codes, dictionary = columns.coded(rule.field)
    value_codes = all_codes[at]
    present = np.unique(value_codes)  # only values these rows hold name a group
    values = dictionary.take(pa.array(present)).to_pylist()
    prefix, _, suffix = rule.name.partition(VALUE_SLOT)
    named = np.array([v != "" for v in values], dtype=bool)
    group_of = np.full(len(dictionary), -1, dtype=np.int64)
    group_of[present[named]] = numbered.code_of(
        [prefix + v + suffix for v in values if v != ""])
    codes = group_of[value_codes]
    keep = codes >= 0
    return at[keep], codes[keep]


def desired_pairs(rules: Sequence[GroupRule], desired: pd.DataFrame, staying: np.ndarray,
                  file_kind: FileKind, columns: _Columns | None = None) -> Wanted:
    """Every membership the rules want (see ``Wanted``); ``columns``: the desired
    records' columns when the caller converted them already."""
    columns = _Columns(desired) if columns is None else columns
    size = len(desired)
    numbered = _Names()
    positions: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for rule in rules:
        if rule.kind == "reports_to" and file_kind == "delta":
            continue  # a delta file does not hold the whole hierarchy
        mask = staying.copy()
        if rule.when is not None:
            mask &= matches(rule.when, columns, size)
        if rule.kind == "reports_to":
            mask &= reports_to(rule.manager, columns)
        at = np.flatnonzero(mask)
        if rule.kind == "field":
            at, code = _field_codes(rule, columns, at, numbered)
        else:
            code = np.full(len(at), numbered.code_of([rule.name])[0], dtype=np.int64)
        positions.append(at.astype(np.int64))
        codes.append(code)
    sizes = [len(p) for p in positions]
    if not positions:
        return Wanted(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), _NO_NAMES,
                      sizes)
    return Wanted(np.concatenate(positions), np.concatenate(codes), numbered.table(), sizes)


def stored_groups(snapshot: pd.DataFrame, positions: np.ndarray, drift: pd.DataFrame,
                  read: MembershipReader) -> StoredGroups:
    """``StoredGroups`` from a snapshot read with its ``group_fingerprint`` column (none
    on a target that keeps no fingerprints) and the desired rows' ``positions`` in it."""
    old = np.zeros(len(positions), dtype=np.int64)
    found = positions >= 0
    if "group_fingerprint" not in snapshot:
        return StoredGroups(old, found, 0, drift, read)
    old[found] = snapshot["group_fingerprint"].to_numpy(dtype=np.int64)[positions[found]]
    return StoredGroups(old, found, len(snapshot), drift, read)


def _candidates(rules: Sequence[GroupRule], ids: pd.Series, fingerprints: np.ndarray,
                stored: StoredGroups, rekeys: pd.DataFrame, file_kind: FileKind
                ) -> np.ndarray:
    """Which people of the file need their memberships compared."""
    old = stored.fingerprints
    candidate = (old != fingerprints) | (old == 0)
    if file_kind == "delta" and any(r.kind == "reports_to" for r in rules):
        candidate[:] = True  # without the hierarchy, a delta's group sets are partial
    if len(stored.drift):
        candidate |= is_in(ids, stored.drift[KEY].astype(str))
    if len(rekeys):
        candidate |= is_in(ids, rekeys[KEY].astype(str))
    return candidate


def _read(stored: StoredGroups, ids: pd.Series, candidate: np.ndarray, leaving: pd.Series,
          rekeys: pd.DataFrame, ruled: set[str] | None) -> tuple[pd.DataFrame, bool]:
    """The stored memberships the plan compares, and whether that is all of them."""
    known = stored.known
    most = int(candidate.sum()) + len(leaving) + len(stored.drift) + len(rekeys)
    if not known or most > FULL_READ_SHARE * known:
        return stored.read(None, None), True
    # A candidate the store does not have (a hire) has no memberships to read.
    people = set(ids[candidate & stored.in_store]) | set(leaving.astype(str)) | \
        set(stored.drift[KEY].astype(str))
    if len(rekeys):
        people |= set(rekeys["old_employee_id"].astype(str))
    return stored.read(sorted(people), ruled), False


def plan_groups(rules: Sequence[GroupRule], desired: pd.DataFrame, staying: np.ndarray,
                stored: StoredGroups, leaving: pd.Series, rekeys: pd.DataFrame,
                file_kind: FileKind) -> GroupPlan:
    """The group adds and removes that make the stored memberships of this connection's
    groups (read through ``stored``, only as far as needed) match the rules.

    ``staying``: which rows of ``desired`` are active after the plan; ``leaving``: ids
    the plan deactivates or deletes (they leave every group this connection gave them).
    """
    size = len(desired)
    columns = _Columns(desired)
    wanted = desired_pairs(rules, desired, staying, file_kind, columns)
    want_pos, codes, uniques = wanted.positions, wanted.codes, wanted.names
    hashes = pd.util.hash_array(uniques)[codes] if len(uniques) \
        else np.zeros(0, dtype=np.uint64)
    ids_wanted = desired[KEY].astype(str).reset_index(drop=True)
    fingerprints = set_fingerprints(rules_digest(rules), want_pos, hashes, wanted.sizes, size)
    candidate = _candidates(rules, ids_wanted, fingerprints, stored, rekeys, file_kind)
    ruled = {r.name for r in rules if r.kind != "field"} | set(uniques)
    actual, whole = _read(stored, ids_wanted, candidate, leaving, rekeys,
                          ruled if file_kind == "snapshot" else None)
    every_pos, compared = want_pos, candidate[want_pos]
    skipped_pairs = int((~compared).sum())
    want_pos, want_codes = want_pos[compared], codes[compared]
    want_names = uniques[want_codes]
    want = want_codes * (size + 1) + want_pos
    # The stored memberships under the ids the plan gives people (rehires re-keyed).
    ids = actual[KEY].astype(str)
    if len(rekeys) and len(actual):
        renamed = dict(zip(rekeys["old_employee_id"].astype(str),
                           rekeys[KEY].astype(str), strict=False))
        ids = ids.map(lambda i: renamed.get(i, i))
    have_pos = positions_among_few(arrow_text(ids), columns(KEY)) if len(actual) \
        else np.zeros(0, dtype=np.int64)
    have_code = pd.Index(uniques).get_indexer(actual["group"].astype(str)) if len(actual) \
        else np.zeros(0, dtype=np.int64)
    known = (have_pos >= 0) & (have_code >= 0)
    have = np.where(known, have_code.astype(np.int64) * (size + 1) + have_pos, -1)
    ours = actual["ours"].to_numpy(dtype=bool) if len(actual) else np.zeros(0, dtype=bool)
    add = ~np.isin(want, have[known])
    lines = desired["line"].to_numpy() if "line" in desired else np.full(size, None)
    adds = pd.DataFrame({KEY: desired[KEY].iloc[want_pos[add]].to_numpy(),
                         "group": want_names[add], "action": "add",
                         "line": lines[want_pos[add]]})
    stored_groups = actual["group"].astype(str)
    compared_at = np.zeros(len(have_pos), dtype=bool)
    compared_at[have_pos >= 0] = candidate[have_pos[have_pos >= 0]]
    in_scope = compared_at | is_in(ids, leaving)
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
    grouped[every_pos] = True
    if file_kind == "delta" and any(r.kind == "reports_to" for r in rules):
        fingerprints = np.zeros(size, dtype=np.int64)  # partial sets: compare next time
    members = int(ours.sum()) + (0 if whole else skipped_pairs)
    return GroupPlan(changes, members, int((staying & ~grouped).sum()),
                     _new_fingerprints(ids_wanted, fingerprints, candidate, leaving),
                     _drift(adds, stored.drift))


def _new_fingerprints(ids: pd.Series, fingerprints: np.ndarray, candidate: np.ndarray,
                      leaving: pd.Series) -> pd.DataFrame:
    """The fingerprints to store: compared people get theirs; leavers missing from the
    file get 0, so whatever groups they are given back later is compared then."""
    gone = leaving.astype(str)
    # Probe the file's ids against the few leavers rather than hash the whole file.
    gone = gone.loc[~is_in(gone, ids[is_in(ids, gone)])]
    return pd.DataFrame({
        KEY: np.concatenate([ids[candidate].to_numpy(dtype=object), gone.to_numpy(dtype=object)]),
        "group_fingerprint": np.concatenate([fingerprints[candidate],
                                             np.zeros(len(gone), dtype=np.int64)]),
    }).loc[:, list(GROUP_FINGERPRINT_COLUMNS)]


def _drift(adds: pd.DataFrame, marks: pd.DataFrame) -> pd.DataFrame:
    """The planned adds that put back a membership removed outside filebridge."""
    if not len(marks) or not len(adds):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in GROUP_DRIFT_COLUMNS})
    keys = marks[KEY].astype(str) + "\x1f" + marks["group"].astype(str)
    hit = is_in(adds[KEY].astype(str) + "\x1f" + adds["group"].astype(str), keys)
    return adds.loc[hit, list(GROUP_DRIFT_COLUMNS)].reset_index(drop=True)
