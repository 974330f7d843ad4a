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

from filebridge.mapping import KEY
from filebridge.mapping.columns import is_in
from filebridge.plan.model import FileKind, Plan

Fetch = Callable[[Sequence[str], Sequence[str]], pd.DataFrame]

# Status drives the active flag; it is not stored as a field of its own.
NOT_STORED = ("status", "line")


def stored_fields(names: Sequence[str]) -> tuple[str, ...]:
    """The mapped fields the store keeps (everything but status), key first."""
    return tuple(n for n in names if n not in NOT_STORED)


def fingerprint(frame: pd.DataFrame, fields: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash (as int64) of each row's ``fields``, computed column-wise."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    hashed = pd.util.hash_pandas_object(frame.loc[:, list(fields)].astype("str"), index=False)
    return hashed.to_numpy(dtype=np.uint64).view(np.int64)


@dataclass(frozen=True)
class DiffOptions:
    """Policy knobs the diff needs."""

    file_kind: FileKind = "snapshot"
    keep_blank: frozenset[str] = frozenset()  # fields whose blank cell keeps the stored value
    protected: frozenset[str] = frozenset()  # ids never deactivated (their own row was rejected)


def diff(connection: str, desired: pd.DataFrame, fields: Sequence[str],
         snapshot: pd.DataFrame, fetch: Fetch, options: DiffOptions) -> Plan:
    """Compute the plan that makes the store agree with ``desired``.

    ``desired``: accepted records (``fields`` + optional ``status`` + ``line``).
    ``snapshot``: the store's ``employee_id, fingerprint, active`` for this connection.
    ``fetch(ids, fields)``: full stored values of the few people that may differ.
    """
    fields = stored_fields(fields)
    want = desired.copy()
    want["fingerprint"] = fingerprint(want, fields)
    want["_active"] = want["status"] != "inactive" if "status" in want else True
    have = snapshot.rename(columns={"fingerprint": "_fp", "active": "_was_active"})
    merged = want.merge(have, on=KEY, how="left", indicator=True)
    known = (merged["_merge"] == "both").to_numpy()
    active = merged["_active"].to_numpy(dtype=bool)
    plan = Plan(connection=connection, file_kind=options.file_kind, fields=fields)

    plan.creates = merged.loc[~known & active, [*fields, "fingerprint", "line"]].reset_index(
        drop=True)
    old = merged.loc[known]
    was_active = old["_was_active"].astype(bool)
    now_active = old["_active"].astype(bool)
    plan.deactivations = _state_rows(old.loc[was_active & ~now_active], "status inactive in file")
    plan.reactivations = _state_rows(old.loc[~was_active & now_active], "active again in file")
    changed = old.loc[old["fingerprint"] != old["_fp"]]
    plan.updates, plan.fingerprints = _field_changes(changed, fields, fetch, options)
    touched = set(plan.updates[KEY]) | set(plan.deactivations[KEY]) | set(
        plan.reactivations[KEY])
    plan.unchanged = int(known.sum()) - len(touched)
    if options.file_kind == "snapshot":
        plan.deactivations = pd.concat([plan.deactivations,
                                        _leavers(snapshot, want, options)], ignore_index=True)
    return plan


def _state_rows(rows: pd.DataFrame, reason: str) -> pd.DataFrame:
    return pd.DataFrame({KEY: rows[KEY].to_numpy(dtype=object),
                         "reason": reason,
                         "line": rows["line"].to_numpy(dtype=object)})


def _leavers(snapshot: pd.DataFrame, want: pd.DataFrame, options: DiffOptions) -> pd.DataFrame:
    active = snapshot.loc[snapshot["active"].astype(bool), KEY]
    gone = active[~is_in(active, want[KEY]) & ~is_in(active, options.protected)]
    return pd.DataFrame({KEY: gone.to_numpy(dtype=object), "reason": "missing from snapshot",
                         "line": None})


def _field_changes(changed: pd.DataFrame, fields: tuple[str, ...], fetch: Fetch,
                   options: DiffOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare candidates field by field; return (updates long frame, new fingerprints)."""
    empty_updates = pd.DataFrame({c: pd.Series([], dtype=object)
                                  for c in (KEY, "field", "old", "new", "line")})
    fps = pd.DataFrame({KEY: changed[KEY].to_numpy(dtype=object),
                        "fingerprint": changed["fingerprint"].to_numpy(dtype=np.int64)})
    if changed.empty:
        return empty_updates, fps
    value_fields = [f for f in fields if f != KEY]
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


def protected_ids(ids: Collection[str]) -> frozenset[str]:
    """Freeze a set of ids for ``DiffOptions.protected``."""
    return frozenset(ids)
