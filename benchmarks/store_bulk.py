"""Measure the built-in store at scale (not a test; run by hand).

    .venv/bin/python benchmarks/store_bulk.py [ROWS] [FOLDER]

Prints seconds for: applying ROWS creates (every canonical field, one custom
attribute, journal rows) in one transaction, then ``snapshot``, then ``fetch`` of
1% of the people, then a plan of 1% updates and 1% deactivations.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from filebridge.lms.schema import PERSON_FIELDS
from filebridge.lms.sqlstore import SqlStore
from filebridge.plan.model import Plan
from filebridge.sql import open_engine


def people(rows: int) -> pd.DataFrame:
    """A creates frame: ``rows`` people, every canonical field filled."""
    ids = pd.Series(np.arange(rows)).astype(str).str.zfill(8)
    frame = pd.DataFrame({"employee_id": ids})
    for i, name in enumerate(PERSON_FIELDS):
        frame[name] = name + "-" + (pd.Series(np.arange(rows)) % (97 + i)).astype(str)
    frame["custom.cost_center"] = "CC" + (pd.Series(np.arange(rows)) % 50).astype(str)
    frame["fingerprint"] = np.arange(rows, dtype=np.int64) * 7919
    frame["line"] = np.arange(rows) + 2
    return frame


def main(rows: int, folder: Path) -> None:
    """Run the measurements against a fresh SQLite file in ``folder``."""
    engine = open_engine(f"sqlite:///{folder / 'bench.db'}")
    store = SqlStore(engine)
    store.migrate()
    fields = ("employee_id", *PERSON_FIELDS, "custom.cost_center")
    creates = people(rows)
    now = datetime.now(UTC)
    t = time.perf_counter()
    with engine.begin() as tx:
        store.apply_within(tx, Plan("acme", "snapshot", fields, creates=creates), 1, now)
    print(f"apply {rows} creates: {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    snap = store.state("acme").snapshot()
    print(f"snapshot {len(snap)} rows: {time.perf_counter() - t:.2f} s")
    some = creates["employee_id"].iloc[::100].tolist()
    t = time.perf_counter()
    got = store.state("acme").fetch(some, fields)
    print(f"fetch {len(got)} people x {len(fields)} fields: {time.perf_counter() - t:.2f} s")
    updates = pd.DataFrame(
        {"employee_id": some, "field": "email", "old": "", "new": "x@y", "line": 2}
    )
    gone = creates["employee_id"].iloc[1::100]
    plan = Plan(
        "acme",
        "snapshot",
        fields,
        updates=updates,
        fingerprints=pd.DataFrame({"employee_id": some, "fingerprint": 1}),
        deactivations=pd.DataFrame({"employee_id": gone, "reason": "leaver", "line": None}),
    )
    t = time.perf_counter()
    with engine.begin() as tx:
        store.apply_within(tx, plan, 2, now)
    print(f"apply {len(some)} updates + {len(gone)} deactivations: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    if len(sys.argv) > 2:
        main(count, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(count, Path(tmp))
