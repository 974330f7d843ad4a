"""Undo one run from the ``changes`` journal, as a plan the store applies like any other.

Decisions (README, "What happens to leavers, rehires and bad files"):
- an update is undone by writing the old value back; a create by *deactivating* the
  person (their learning history stays); a deactivation by reactivating, a
  reactivation by deactivating; a re-keyed rehire gets its old employee id back;
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

from filebridge.lms.schema import changes
from filebridge.lms.sqlstate import SqlState
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.sql import fetch_raw, reading

REFUSED_COLUMNS = (KEY, "action", "field", "reason")
STATE_ACTIONS = ("create", "deactivate", "reactivate", "delete", "adopt")
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


def _later(engine: Engine, connection: str, after: int, ids: list[str]) -> pd.DataFrame:
    rows = []
    with reading(engine) as conn:
        for start in range(0, len(ids), CHUNK):
            rows += fetch_raw(conn, sa.select(changes.c.employee_id, changes.c.action,
                                              changes.c.field, changes.c.run_id)
                              .where(changes.c.connection == connection, changes.c.id > after,
                                     changes.c.employee_id.in_(ids[start:start + CHUNK])))
    return pd.DataFrame(rows, columns=[KEY, "action", "field", "run_id"], dtype=object)


def undo_plan(engine: Engine, connection: str, run_id: int) -> tuple[Plan, pd.DataFrame]:
    """The plan that reverses ``run_id`` where nothing later interfered, and what is refused."""
    done = journal(engine, connection, run_id)
    plan = Plan(connection=connection, file_kind="delta", fields=(KEY,))
    if done.empty:
        return plan, pd.DataFrame(columns=list(REFUSED_COLUMNS))
    done["field"] = done["field"].fillna("")
    # The slot a change occupies: a field of a person, or the person's existence/state.
    done["slot"] = done["field"].where(done["action"] == "update", "(state)")
    later = _later(engine, connection, int(done["id"].max()),
                   sorted(set(done[KEY])))
    later["slot"] = later["field"].fillna("").where(later["action"] == "update", "(state)")
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
    return pd.DataFrame(refused, columns=list(REFUSED_COLUMNS))


def _current(state: SqlState, updates: pd.DataFrame) -> pd.Series:
    """Each update's field as stored now, aligned with ``updates``."""
    out = pd.Series("", index=updates.index, dtype=object)
    for field, group in updates.groupby("field"):
        values = state.fetch(group[KEY].tolist(), [str(field)])
        out.loc[group.index] = values[str(field)].reindex(group[KEY]).fillna("\x00gone").to_numpy(
            dtype=object)
    return out
