"""Desired state (the file) minus actual state (the LMS) = the plan.

Fast path: every person's mapped fields hash to a 64-bit fingerprint, column-wise.
Only people whose fingerprint or active flag differ from the store are loaded in
full and compared field by field; unchanged people cost one hash and one compare.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from filebridge.columnar import arrow_text, is_in, mostly_unique, positions_of
from filebridge.person import KEY
from filebridge.plan.model import FileKind, Plan
from filebridge.plan.policy import Leavers

Fetch = Callable[[Sequence[str], Sequence[str]], pd.DataFrame]

# Status drives the active flag; it is not stored as a field of its own.
NOT_STORED = ("status", "line")


def stored_fields(names: Sequence[str]) -> tuple[str, ...]:
    """The mapped fields the store keeps (everything but status), key first."""
    return tuple(n for n in names if n not in NOT_STORED)


def fingerprint(frame: pd.DataFrame, fields: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash (as int64) of each row's ``fields``, computed column-wise.

    The value is exactly ``pandas.util.hash_pandas_object(frame[fields].astype("str"),
    index=False)`` (the fingerprints already stored stay valid); it is computed here
    because pandas dictionary-encodes every column first, which for ids, emails and
    phone numbers hashes a million distinct values twice.
    """
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    # Combined the way pandas (and CPython's tuple hash) combine columns.
    out = np.full(len(frame), 0x345678, dtype=np.uint64)
    mult = np.uint64(1000003)
    for i, name in enumerate(fields):
        out ^= _column_hash(frame[name])
        out *= mult
        inverse = len(fields) - i
        mult += np.uint64(82520 + inverse + inverse)
    out += np.uint64(97531)
    return out.view(np.int64)


def _column_hash(values: pd.Series) -> np.ndarray:
    """pandas' per-value hash of a text column; distinct values hashed once when they repeat."""
    array = arrow_text(values)
    if mostly_unique(values):
        hashed = _hash_in_slices(array)
    else:
        encoded = pc.dictionary_encode(array)
        dictionary = encoded.dictionary.to_numpy(zero_copy_only=False)
        codes = encoded.indices.fill_null(0).to_numpy()
        hashed = pd.util.hash_array(dictionary, categorize=False).take(codes) \
            if len(dictionary) else np.zeros(len(codes), dtype=np.uint64)
    if array.null_count:
        hashed[array.is_null().to_numpy(zero_copy_only=False)] = np.iinfo(np.uint64).max
    return hashed


# Rows turned into Python strings at a time: pandas hashes text only as Python objects,
# which for a million distinct values costs more memory than the whole column in Arrow.
HASH_SLICE_ROWS = 65_536


def _hash_in_slices(array: pa.Array) -> np.ndarray:
    """``pandas.util.hash_array`` of every value, a slice of rows at a time (same values)."""
    hashed = np.empty(len(array), dtype=np.uint64)
    for start in range(0, len(array), HASH_SLICE_ROWS):
        part = array.slice(start, HASH_SLICE_ROWS).to_numpy(zero_copy_only=False)
        hashed[start:start + len(part)] = pd.util.hash_array(part, categorize=False)
    return hashed


@dataclass(frozen=True)
class DiffOptions:
    """Policy knobs the diff needs."""

    file_kind: FileKind = "snapshot"
    keep_blank: frozenset[str] = frozenset()  # fields whose blank cell keeps the stored value
    protected: frozenset[str] = frozenset()  # ids never deactivated (their own row was rejected)
    lms_owned: frozenset[str] = frozenset()  # fields set at creation only
    leavers: Leavers = "deactivate"
    delete_grace_days: int = 0
    # Inactive people deactivated before the grace period began: deleted if still leaving.
    expired: frozenset[str] = frozenset()
    # Rows outside the include filter (``employee_id, message, line``): in a snapshot their
    # managed people are leavers, and the plan says why.
    filtered: pd.DataFrame | None = None
    # Rehires matched on email (``employee_id`` new, ``old_employee_id``, ``line``).
    rekeys: pd.DataFrame | None = None
    # Fields changed in the LMS outside filebridge (``employee_id, field, written``:
    # what filebridge had written); those people are compared field by field.
    drifted: pd.DataFrame | None = None


def diff(connection: str, desired: pd.DataFrame, fields: Sequence[str],
         snapshot: pd.DataFrame, fetch: Fetch, options: DiffOptions,
         positions: np.ndarray | None = None) -> Plan:
    """Compute the plan that makes the store agree with ``desired``.

    ``desired``: accepted records (``fields`` + optional ``status`` + ``line``).
    ``snapshot``: the store's ``employee_id, fingerprint, active`` for this connection.
    ``fetch(ids, fields)``: full stored values of the few people that may differ.
    ``positions``: each desired row's row in the snapshot (-1: none), when the caller
    has it already (``positions_of(desired[KEY], snapshot[KEY])``).
    """
    fields = stored_fields(fields)
    plan = Plan(connection=connection, file_kind=options.file_kind, fields=fields)
    if options.rekeys is not None and len(options.rekeys):
        snapshot, fetch = _rekeyed(snapshot, fetch, options.rekeys)
        plan.rekeys = options.rekeys.reset_index(drop=True)
        positions = None  # re-keyed ids sit on other rows now
    # Align each desired person with their row in the snapshot by id (an Arrow hash
    # lookup), instead of merging whole frames: only ids, fingerprints and flags move.
    want = desired[[KEY, "line"]].copy()
    want["fingerprint"] = fingerprint(desired, fields)
    want["_active"] = (desired["status"] != "inactive").to_numpy() if "status" in desired \
        else True
    pos = positions_of(desired[KEY], snapshot[KEY]) if positions is None else positions
    known = pos >= 0
    active = want["_active"].to_numpy(dtype=bool)
    creating = ~known & active
    plan.creates = desired.loc[creating, list(fields)].reset_index(drop=True)
    plan.creates["fingerprint"] = want["fingerprint"].to_numpy()[creating]
    plan.creates["line"] = want["line"].to_numpy()[creating]
    unknown_inactive = want.loc[~known & ~active]
    plan.skipped = pd.DataFrame({KEY: unknown_inactive[KEY].to_numpy(dtype=object),
                                 "reason": "inactive-unknown",
                                 "message": "inactive in the file and not in the LMS",
                                 "line": unknown_inactive["line"].to_numpy(dtype=object)})
    at = pos[known]
    old = want.loc[known].assign(
        _fp=snapshot["fingerprint"].to_numpy(dtype=np.int64)[at],
        _was_active=snapshot["active"].to_numpy(dtype=bool)[at])
    was_active = old["_was_active"]
    now_active = old["_active"].astype(bool)
    leaving = _state_rows(old.loc[was_active & ~now_active], "status inactive in file")
    plan.reactivations = _state_rows(old.loc[~was_active & now_active], "active again in file")
    if len(plan.rekeys):
        rehired = is_in(plan.reactivations[KEY], plan.rekeys[KEY])
        plan.reactivations.loc[rehired, "reason"] = "rehired: matched on work email"
    differs = (old["fingerprint"] != old["_fp"]).to_numpy()
    if options.drifted is not None and len(options.drifted):
        differs = differs | is_in(old[KEY], options.drifted[KEY])
    # Only the few candidate rows are copied, never the whole file.
    changed = desired.iloc[np.flatnonzero(known)[differs]].loc[:, list(fields)].assign(
        fingerprint=old["fingerprint"].to_numpy()[differs],
        line=old["line"].to_numpy()[differs])
    updates, plan.fingerprints = _field_changes(changed, fields, fetch, options)
    plan.updates, plan.drift = split_drift(updates, options.drifted)
    if options.file_kind == "snapshot":
        listed = np.zeros(len(snapshot), dtype=bool)
        listed[at] = True
        leaving = pd.concat([leaving, _leavers(snapshot, listed, options)], ignore_index=True)
    _leaver_policy(plan, leaving, snapshot, want, options)
    touched = set(plan.updates[KEY]) | set(plan.drift[KEY]) | set(plan.deactivations[KEY]) | set(
        plan.reactivations[KEY]) | set(plan.deletes[KEY])
    # Probe the known ids against the few touched ones (not a hash of a million ids).
    plan.unchanged = int((~is_in(old[KEY], touched)).sum())
    return plan


def _rekeyed(snapshot: pd.DataFrame, fetch: Fetch, rekeys: pd.DataFrame
             ) -> tuple[pd.DataFrame, Fetch]:
    """The snapshot as it will be after the rekeys, and a fetch that reads the old ids."""
    new_of = dict(zip(rekeys["old_employee_id"], rekeys[KEY], strict=True))
    old_of = {v: k for k, v in new_of.items()}
    snapshot = snapshot.copy()
    hit = is_in(snapshot[KEY], list(new_of))
    snapshot.loc[hit, KEY] = snapshot.loc[hit, KEY].map(new_of)

    def fetch_old(ids: Sequence[str], names: Sequence[str]) -> pd.DataFrame:
        frame = fetch([old_of.get(i, i) for i in ids], names)
        return frame.rename(index=new_of)

    return snapshot, fetch_old


def _state_rows(rows: pd.DataFrame, reason: str) -> pd.DataFrame:
    return pd.DataFrame({KEY: rows[KEY].to_numpy(dtype=object),
                         "reason": reason,
                         "line": rows["line"].to_numpy(dtype=object)})


def _leavers(snapshot: pd.DataFrame, listed: np.ndarray, options: DiffOptions
             ) -> pd.DataFrame:
    """Active people of the snapshot the file does not list (``listed``: per snapshot row)."""
    active = snapshot.loc[snapshot["active"].to_numpy(dtype=bool) & ~listed, KEY]
    gone = active[~is_in(active, options.protected)]
    out = pd.DataFrame({KEY: gone.to_numpy(dtype=object), "reason": "missing from snapshot",
                        "line": None})
    filtered = options.filtered
    if filtered is not None and len(filtered) and len(out):
        why = filtered.drop_duplicates(KEY).set_index(KEY)
        hit = is_in(out[KEY], why.index.to_series())
        ids = out.loc[hit, KEY]
        out.loc[hit, "reason"] = "outside the include filter: " + why.loc[ids, "message"].to_numpy(
            dtype=object)
        out.loc[hit, "line"] = why.loc[ids, "line"].to_numpy(dtype=object)
    return out


def _leaver_policy(plan: Plan, leaving: pd.DataFrame, snapshot: pd.DataFrame,
                   want: pd.DataFrame, options: DiffOptions) -> None:
    """Turn leavers into deactivations, deletes, or nothing, as the connection says."""
    if options.leavers == "ignore":
        return
    if options.leavers == "deactivate" or options.delete_grace_days > 0:
        plan.deactivations = leaving.reset_index(drop=True)
    else:
        plan.deletes = leaving.reset_index(drop=True)
    if options.leavers != "delete" or not options.expired:
        return
    # Already deactivated and past the grace period: deleted while they are still leavers
    # (absent from a snapshot, or listed as inactive), never when they came back.
    inactive = snapshot.loc[~snapshot["active"].astype(bool), KEY]
    expired = inactive[is_in(inactive, options.expired) & ~is_in(inactive, options.protected)]
    rows = want.loc[is_in(want[KEY], expired)]
    still_inactive = rows.loc[~rows["_active"].astype(bool)]
    absent = expired[~is_in(expired, want[KEY])] if options.file_kind == "snapshot" else \
        expired.iloc[:0]
    reason = f"deactivated more than {options.delete_grace_days} days ago"
    plan.deletes = pd.concat([plan.deletes, _state_rows(still_inactive, reason),
                              pd.DataFrame({KEY: absent.to_numpy(dtype=object),
                                            "reason": reason, "line": None})],
                             ignore_index=True)


def _field_changes(changed: pd.DataFrame, fields: tuple[str, ...], fetch: Fetch,
                   options: DiffOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare candidates field by field; return (updates long frame, new fingerprints)."""
    empty_updates = pd.DataFrame({c: pd.Series([], dtype=object)
                                  for c in (KEY, "field", "old", "new", "line")})
    fps = pd.DataFrame({KEY: changed[KEY].to_numpy(dtype=object),
                        "fingerprint": changed["fingerprint"].to_numpy(dtype=np.int64)})
    if changed.empty:
        return empty_updates, fps
    # LMS-owned fields were set at creation; later files never overwrite them.
    value_fields = [f for f in fields if f != KEY and f not in options.lms_owned]
    if not value_fields:
        return empty_updates, fps
    stored = fetch(changed[KEY].tolist(), value_fields)
    new = changed.set_index(KEY)[value_fields]
    stored = stored.reindex(index=new.index, columns=value_fields).fillna("").astype("str")
    parts = []
    for name in value_fields:
        differs = new[name] != stored[name]
        if name in options.keep_blank:
            differs &= new[name] != ""
        if differs.any():
            ids = new.index[differs.to_numpy()]
            parts.append(pd.DataFrame({KEY: ids.to_numpy(dtype=object), "field": name,
                                       "old": stored.loc[ids, name].to_numpy(dtype=object),
                                       "new": new.loc[ids, name].to_numpy(dtype=object),
                                       "line": changed.set_index(KEY).loc[ids, "line"]
                                       .to_numpy(dtype=object)}))
    updates = pd.concat(parts, ignore_index=True) if parts else empty_updates
    return updates, fps


def split_drift(updates: pd.DataFrame, drifted: pd.DataFrame | None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split field changes into HR changes and drift.

    A change is drift when the field was changed in the LMS outside filebridge and the
    file still says what filebridge had written: only the LMS moved. When the file says
    something new as well, the file's change wins and it is an HR change.
    """
    drift_columns = [KEY, "field", "lms", "new", "line"]
    if drifted is None or not len(drifted) or not len(updates):
        return updates, pd.DataFrame({c: pd.Series([], dtype=object) for c in drift_columns})
    written = dict(zip(drifted[KEY].astype(str) + "\x1f" + drifted["field"].astype(str),
                       drifted["written"].fillna(""), strict=True))
    keys = updates[KEY].astype(str) + "\x1f" + updates["field"].astype(str)
    was = keys.map(written)
    moved = (was.notna() & (updates["new"].astype(str) == was)).to_numpy(dtype=bool)
    drift = updates.loc[moved].rename(columns={"old": "lms"}).loc[:, drift_columns]
    return updates.loc[~moved].reset_index(drop=True), drift.reset_index(drop=True)


def protected_ids(ids: Collection[str]) -> frozenset[str]:
    """Freeze a set of ids for ``DiffOptions.protected``."""
    return frozenset(ids)
