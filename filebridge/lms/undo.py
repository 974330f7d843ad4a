"""Undo one run from the ``changes`` journal, as a plan the store applies like any other.

Decisions (README, "What happens to leavers, rehires and bad files"):
- an update is undone by writing the old value back; a create by *deactivating* the
  person (their learning history stays); a deactivation by reactivating, a
  reactivation by deactivating; a re-keyed rehire gets its old employee id back;
- a group membership the run's rules added is removed again, one they removed is added
  back (only memberships the connection's rules own; a later run that touched the same
  person and group wins), and those people's group fingerprint is reset so the next
  file compares their memberships in full;
- a delete is refused: the learning history went with it;
- anything a later run changed (same person and field, or the person's active state)
  is refused, and so is a value someone changed by hand since (it no longer equals
  what the run wrote);
- undone people get fingerprint 0, so the next file is compared field by field and
  proposes again whatever the HR system still says.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms.groups_sql import owned_membership_count
from filebridge.lms.schema import changes
from filebridge.lms.sqlstate import SqlState
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.sql import fetch_raw, reading

REFUSED_COLUMNS = (KEY, "action", "field", "reason")
STATE_ACTIONS = ("create", "deactivate", "reactivate", "delete", "adopt")
GROUP_ACTIONS = ("group_add", "group_remove")
CHUNK = 900


def journal(engine: Engine, connection: str, run_id: int) -> pd.DataFrame:
    """The run's journal rows: id, employee_id, action, field, old, new."""
    stmt = (sa.select(changes.c.id, changes.c.employee_id, changes.c.action, changes.c.field,
                      changes.c.old, changes.c.new)
            .where(changes.c.run_id == run_id, changes.c.connection == connection)
            .order_by(changes.c.id))
    with reading(engine) as conn:
        rows = fetch_raw(conn, stmt)
    return pd.DataFrame(rows, columns=["id", KEY, "action", "field", "old", "new"], dtype=object)


def _slots(frame: pd.DataFrame) -> pd.Series:
    """The slot each change occupies: a field of a person, one group of a person, or the
    person's existence and active state."""
    field = frame["field"].fillna("").astype(object)
    group = "group:" + frame["new"].fillna(frame["old"]).fillna("").astype(str)
    grouped = frame["action"].isin(GROUP_ACTIONS)
    return field.where(frame["action"] == "update", group.where(grouped, "(state)"))


def _later(engine: Engine, connection: str, after: int, ids: list[str]) -> pd.DataFrame:
    rows = []
    with reading(engine) as conn:
        for start in range(0, len(ids), CHUNK):
            rows += fetch_raw(conn, sa.select(changes.c.employee_id, changes.c.action,
                                              changes.c.field, changes.c.old, changes.c.new,
                                              changes.c.run_id)
                              .where(changes.c.connection == connection, changes.c.id > after,
                                     changes.c.employee_id.in_(ids[start:start + CHUNK])))
    return pd.DataFrame(rows, columns=[KEY, "action", "field", "old", "new", "run_id"],
                        dtype=object)


def undo_plan(engine: Engine, connection: str, run_id: int) -> tuple[Plan, pd.DataFrame]:
    """The plan that reverses ``run_id`` where nothing later interfered, and what is refused."""
    done = journal(engine, connection, run_id)
    plan = Plan(connection=connection, file_kind="delta", fields=(KEY,))
    if done.empty:
        return plan, pd.DataFrame(columns=list(REFUSED_COLUMNS))
    done["field"] = done["field"].fillna("")
    # The slot a change occupies: a field of a person, or the person's existence/state.
    done["slot"] = _slots(done)
    later = _later(engine, connection, int(done["id"].max()),
                   sorted(set(done[KEY])))
    later["slot"] = _slots(later)
    refused = []
    deleted = set(later.loc[later["action"] == "delete", KEY])
    busy = later.groupby([KEY, "slot"])["run_id"].max()
    for row in done.itertuples(index=False):
        reason = ""
        if row.action == "delete":
            reason = "deleted people cannot be restored: their learning history is gone"
        elif row.employee_id in deleted:
            reason = "the person was deleted by a later run"
        elif (row.employee_id, row.slot) in busy.index:
            reason = f"run {busy[(row.employee_id, row.slot)]} changed it later"
        if reason:
            refused.append((row.employee_id, row.action, row.field, reason))
    refused_df = pd.DataFrame(refused, columns=list(REFUSED_COLUMNS))
    ok = done.loc[~done.set_index([KEY, "action", "field"]).index.isin(
        refused_df.set_index([KEY, "action", "field"]).index)]
    more = _fill(SqlState(engine, connection), plan, ok, run_id)
    if (plan.groups["action"] == "remove").any():
        # The group brake judges an undo's removals like a night's: against the
        # memberships the connection's rules hold now.
        plan.group_members = owned_membership_count(engine, connection)
    return plan, pd.concat([refused_df, more], ignore_index=True)


def _fill(state: SqlState, plan: Plan, ok: pd.DataFrame, run_id: int) -> pd.DataFrame:
    """Put the reversing changes into ``plan``; returns what the current store refuses."""
    refused = []
    updates = ok.loc[(ok["action"] == "update") & (ok["field"] != KEY)]
    if len(updates):
        current = _current(state, updates)
        drifted = current != updates["new"].fillna("").to_numpy(dtype=object)
        for r in updates.loc[drifted].itertuples(index=False):
            refused.append((r.employee_id, "update", r.field,
                            "changed outside filebridge since (no longer the value the run "
                            "wrote)"))
        back = updates.loc[~drifted]
        plan.updates = pd.DataFrame({KEY: back[KEY].to_numpy(dtype=object),
                                     "field": back["field"].to_numpy(dtype=object),
                                     "old": back["new"].fillna("").to_numpy(dtype=object),
                                     "new": back["old"].fillna("").to_numpy(dtype=object),
                                     "line": None})
    rekeys = ok.loc[(ok["action"] == "update") & (ok["field"] == KEY)]
    plan.rekeys = pd.DataFrame({KEY: rekeys["old"].to_numpy(dtype=object),
                                "old_employee_id": rekeys["new"].to_numpy(dtype=object),
                                "line": None})
    snap = state.snapshot().set_index(KEY)["active"]
    reason = f"undo of run {run_id}"
    for action, want_active in (("create", False), ("reactivate", False), ("deactivate", True)):
        ids = ok.loc[ok["action"] == action, KEY]
        now = snap.reindex(ids)
        wrong = now.isna() | (now.astype(bool) == want_active)
        refused += [(i, action, "", "the person is no longer in that state")
                    for i in ids[wrong.to_numpy()]]
        rows = pd.DataFrame({KEY: ids[~wrong.to_numpy()].to_numpy(dtype=object),
                             "reason": reason, "line": None})
        target = "reactivations" if want_active else "deactivations"
        setattr(plan, target, pd.concat([getattr(plan, target), rows], ignore_index=True))
    refused += [(i, "adopt", "managed_by", "an adoption (link) is not undone")
                for i in ok.loc[ok["action"] == "adopt", KEY]]
    people = sorted(set(plan.updates[KEY]))
    plan.fingerprints = pd.DataFrame({KEY: people, "fingerprint": [0] * len(people)})
    _groups(plan, ok)
    return pd.DataFrame(refused, columns=list(REFUSED_COLUMNS))


def _groups(plan: Plan, ok: pd.DataFrame) -> None:
    """The reverse of the run's membership changes; everyone the undo touches gets group
    fingerprint 0, so the next file compares their memberships in full."""
    rows = ok.loc[ok["action"].isin(GROUP_ACTIONS)]
    if len(rows):
        adding = (rows["action"] == "group_remove").to_numpy()
        plan.groups = pd.DataFrame({
            KEY: rows[KEY].to_numpy(dtype=object),
            "group": rows["new"].fillna(rows["old"]).to_numpy(dtype=object),
            "action": ["add" if a else "remove" for a in adding], "line": None})
        plan.groups = plan.groups.sort_values("action", kind="stable").reset_index(drop=True)
        plan.groups_planned = True
    touched = sorted(set(plan.groups[KEY]) | set(plan.deactivations[KEY])
                     | set(plan.reactivations[KEY]) | set(plan.rekeys[KEY]))
    plan.group_fingerprints = pd.DataFrame({KEY: touched, "group_fingerprint": [0] * len(touched)})


def _current(state: SqlState, updates: pd.DataFrame) -> pd.Series:
    """Each update's field as stored now, aligned with ``updates``."""
    out = pd.Series("", index=updates.index, dtype=object)
    for field, group in updates.groupby("field"):
        values = state.fetch(group[KEY].tolist(), [str(field)])
        out.loc[group.index] = values[str(field)].reindex(group[KEY]).fillna("\x00gone").to_numpy(
            dtype=object)
    return out
