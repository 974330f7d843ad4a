"""A plain-Python model of the LMS store, for property tests of the pure diff.

It is the reference the diff is checked against, not a stand-in for the built-in
store (that one has its own contract suite under tests/lms/).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from filebridge.plan import Plan


class ModelStore:
    """People as dicts: ``{employee_id: {"fields": {...}, "active": bool, "fp": int}}``."""

    def __init__(self) -> None:
        self.people: dict[str, dict] = {}

    def snapshot(self) -> pd.DataFrame:
        ids = list(self.people)
        return pd.DataFrame({"employee_id": pd.Series(ids, dtype="str"),
                             "fingerprint": np.array([self.people[i]["fp"] for i in ids],
                                                     dtype=np.int64),
                             "active": np.array([self.people[i]["active"] for i in ids],
                                                dtype=bool)})

    def fetch(self, ids, fields) -> pd.DataFrame:
        return pd.DataFrame([{f: self.people[i]["fields"].get(f, "") for f in fields}
                             for i in ids], index=list(ids), columns=list(fields))

    def apply(self, plan: Plan) -> None:
        for row in plan.creates.to_dict("records"):
            self.people[row["employee_id"]] = {
                "fields": {f: row[f] for f in plan.fields if f != "employee_id"},
                "active": True, "fp": int(row["fingerprint"])}
        for row in plan.updates.to_dict("records"):
            self.people[row["employee_id"]]["fields"][row["field"]] = row["new"]
        for row in plan.fingerprints.to_dict("records"):
            self.people[row["employee_id"]]["fp"] = int(row["fingerprint"])
        for row in plan.deactivations.to_dict("records"):
            self.people[row["employee_id"]]["active"] = False
        for row in plan.reactivations.to_dict("records"):
            self.people[row["employee_id"]]["active"] = True
