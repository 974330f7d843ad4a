"""The per-person row events of one import run, built column-wise from its results.

One row per rejected row (each problem of it: code, source column, value, line), per
skipped or filtered row (the plan's reason and rule), and, for a held run, per change
it would have made. A rejected row whose employee id is blank names nobody: it is left
out here (the run's report and reject file keep it). Rows past the error cap have no
problem detail: they are recorded with the code ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from filebridge.ledger.person_events import EVENT_COLUMNS
from filebridge.mapping import MappedRecords
from filebridge.person import KEY
from filebridge.plan import Plan
from filebridge.problems import Problem


def _frame(**columns: object) -> pd.DataFrame:
    """An events frame from equal-length columns; columns not given are all None."""
    given = {c: pd.Series(v, dtype=object) for c, v in columns.items()}
    size = len(next(iter(given.values()))) if given else 0
    return pd.DataFrame({c: given[c].reset_index(drop=True) if c in given
                         else pd.Series([None] * size, dtype=object) for c in EVENT_COLUMNS})


def row_events(records: MappedRecords, problems: Sequence[Problem], plan: Plan,
               held: bool) -> pd.DataFrame:
    """Every per-person event of a run (``EVENT_COLUMNS``); ``held``: the run is held,
    so the plan's changes are recorded as what it would have done."""
    parts = [_rejects(records, problems), _skips(plan)]
    if held:
        parts += _held(plan)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in EVENT_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _rejects(records: MappedRecords, problems: Sequence[Problem]) -> pd.DataFrame:
    frame = records.frame
    rejected = frame.loc[records.rejected, [KEY, "line"]]
    rejected = rejected.loc[rejected[KEY].astype(str).str.strip() != ""]
    if rejected.empty:
        return _frame()
    owner = pd.Series(rejected[KEY].to_numpy(dtype=object),
                      index=rejected["line"].astype(np.int64).to_numpy())
    owner = owner[~owner.index.duplicated()]
    # The problem list is capped (the mapping's max_errors), so this loop is bounded.
    found = [p for p in problems if p.severity == "error" and p.line is not None
             and p.line in owner.index]
    detailed = _frame(employee_id=[owner[p.line] for p in found],
                      kind=["reject"] * len(found), code=[p.code for p in found],
                      field=[p.column for p in found], value=[p.value for p in found],
                      line=[p.line for p in found], message=[p.message for p in found])
    seen = {p.line for p in found}
    rest = owner[~owner.index.isin(list(seen))]
    bare = _frame(employee_id=rest.to_numpy(dtype=object), kind=["reject"] * len(rest),
                  line=rest.index.to_numpy(dtype=object))
    return pd.concat([detailed, bare], ignore_index=True)


def _skips(plan: Plan) -> pd.DataFrame:
    skipped = plan.skipped
    if skipped.empty:
        return _frame()
    reason = skipped["reason"].astype(str)
    return _frame(employee_id=skipped[KEY].to_numpy(dtype=object),
                  kind=np.where(reason == "filtered-out", "filter", "skip").astype(object),
                  code=reason.to_numpy(dtype=object),
                  line=skipped["line"].to_numpy(dtype=object),
                  message=skipped["message"].to_numpy(dtype=object))


def _held(plan: Plan) -> list[pd.DataFrame]:
    out = []
    for action, frame in (("create", plan.creates), ("deactivate", plan.deactivations),
                          ("reactivate", plan.reactivations), ("delete", plan.deletes)):
        if frame.empty:
            continue
        reason = frame["reason"].to_numpy(dtype=object) if "reason" in frame else None
        out.append(_frame(employee_id=frame[KEY].to_numpy(dtype=object),
                          kind=["held"] * len(frame), code=[action] * len(frame),
                          line=frame["line"].to_numpy(dtype=object), message=reason))
    updates = plan.updates
    if not updates.empty:
        out.append(_frame(employee_id=updates[KEY].to_numpy(dtype=object),
                          kind=["held"] * len(updates), code=["update"] * len(updates),
                          field=updates["field"].to_numpy(dtype=object),
                          old=updates["old"].to_numpy(dtype=object),
                          value=updates["new"].to_numpy(dtype=object),
                          line=updates["line"].to_numpy(dtype=object)))
    rekeys = plan.rekeys
    if not rekeys.empty:
        out.append(_frame(employee_id=rekeys[KEY].to_numpy(dtype=object),
                          kind=["held"] * len(rekeys), code=["rekey"] * len(rekeys),
                          old=rekeys["old_employee_id"].to_numpy(dtype=object),
                          value=rekeys[KEY].to_numpy(dtype=object),
                          line=rekeys["line"].to_numpy(dtype=object)))
    return out
