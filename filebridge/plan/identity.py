"""Who is who across accounts: rehires under a new employee id, and emails already in use.

A new employee id whose work email belongs to a *deactivated* person of the same
connection is that person coming back (when ``rehire_match`` allows email): their
account is re-keyed and reactivated, keeping its learning history. The same email
on a *different, active* person is never merged: the row is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from filebridge.columnar import is_in
from filebridge.person import KEY
from filebridge.plan.policy import Policies

# email -> DataFrame(email, managed_by, employee_id, active) of every account using it.
Holders = Callable[[Sequence[str]], pd.DataFrame]

CONFLICT_COLUMNS = (KEY, "email", "line", "holder")


@dataclass(frozen=True)
class Identities:
    """Rehires to re-key and rows whose email belongs to someone else."""

    rekeys: pd.DataFrame  # employee_id (new), old_employee_id, line
    conflicts: pd.DataFrame  # employee_id, email, line, holder (who has the address)


def resolve(connection: str, desired: pd.DataFrame, snapshot: pd.DataFrame, holders: Holders,
            policies: Policies, file_kind: str, known: np.ndarray | None = None) -> Identities:
    """Match new ids to returning people by email, and find emails held by someone else.

    ``known``: which ``desired`` rows are in the snapshot, when the caller has it already.
    """
    active = desired["status"] != "inactive" if "status" in desired else True
    if known is None:
        known = is_in(desired[KEY], snapshot[KEY])
    new = desired.loc[~known & (desired["email"] != "") & active, [KEY, "email", "line"]]
    empty = Identities(pd.DataFrame(columns=[KEY, "old_employee_id", "line"]),
                       pd.DataFrame(columns=list(CONFLICT_COLUMNS)))
    if new.empty:
        return empty
    found = holders(new["email"].tolist())
    if found.empty:
        return empty
    pairs = new.merge(found.rename(columns={KEY: "holder_id"}), on="email")
    ours = (pairs["managed_by"] == connection).to_numpy()
    in_file = is_in(pairs["holder_id"], desired[KEY])
    returning = ours & ~pairs["active"].astype(bool).to_numpy() & ~in_file
    rekeys = pd.DataFrame(columns=[KEY, "old_employee_id", "line"])
    if policies.rehire_match == "employee_id_or_email":
        hits = pairs.loc[returning].drop_duplicates(KEY).drop_duplicates("holder_id")
        rekeys = pd.DataFrame({KEY: hits[KEY].to_numpy(dtype=object),
                               "old_employee_id": hits["holder_id"].to_numpy(dtype=object),
                               "line": hits["line"].to_numpy(dtype=object)})
    clash = in_use(connection, pairs, desired, snapshot, policies, file_kind)
    clash &= ~is_in(pairs[KEY], rekeys[KEY])
    return Identities(rekeys.reset_index(drop=True), _conflicts(pairs.loc[clash]))


def in_use(connection: str, pairs: pd.DataFrame, desired: pd.DataFrame,
           snapshot: pd.DataFrame, policies: Policies, file_kind: str) -> pd.Series:
    """Rows of ``pairs`` (a row's email joined with its ``holder_id``) that clash.

    An active holder clashes unless it is the same person, or a person of this
    connection whose own row moves to another email, or who leaves in this snapshot.
    """
    ours = pairs["managed_by"] == connection
    same = ours & (pairs["holder_id"] == pairs[KEY])
    rows = desired.drop_duplicates(KEY).set_index(KEY)["email"]
    listed = is_in(pairs["holder_id"], rows.index.to_series())
    moves_away = pd.Series(False, index=pairs.index)
    if listed.any():
        now = rows.reindex(pairs.loc[listed, "holder_id"]).to_numpy(dtype=object)
        moves_away.loc[listed] = now != pairs.loc[listed, "email"].to_numpy(dtype=object)
    leaving = pd.Series(False, index=pairs.index)
    if file_kind == "snapshot" and policies.leavers != "ignore":
        leaving = ours & ~listed & is_in(pairs["holder_id"], snapshot[KEY])
    return pairs["active"].astype(bool) & ~same & ~(ours & moves_away) & ~leaving


def _conflicts(rows: pd.DataFrame) -> pd.DataFrame:
    owner = rows["managed_by"].fillna("").astype("str")
    holder = rows["holder_id"].astype("str") + owner.where(owner == "", " (" + owner + ")")
    holder = holder.where(owner != "", rows["holder_id"].astype("str") + " (not managed)")
    return pd.DataFrame({KEY: rows[KEY].to_numpy(dtype=object),
                         "email": rows["email"].to_numpy(dtype=object),
                         "line": rows["line"].to_numpy(dtype=object),
                         "holder": holder.to_numpy(dtype=object)}).drop_duplicates(KEY)


def email_change_conflicts(connection: str, updates: pd.DataFrame, desired: pd.DataFrame,
                           snapshot: pd.DataFrame, holders: Holders, policies: Policies,
                           file_kind: str) -> pd.DataFrame:
    """Existing people whose new email belongs to someone else (``CONFLICT_COLUMNS``)."""
    moves = updates.loc[(updates["field"] == "email") & (updates["new"] != ""),
                        [KEY, "new", "line"]].rename(columns={"new": "email"})
    if moves.empty:
        return pd.DataFrame(columns=list(CONFLICT_COLUMNS))
    found = holders(moves["email"].tolist())
    if found.empty:
        return pd.DataFrame(columns=list(CONFLICT_COLUMNS))
    pairs = moves.merge(found.rename(columns={KEY: "holder_id"}), on="email")
    return _conflicts(pairs.loc[in_use(connection, pairs, desired, snapshot, policies,
                                       file_kind)])
