"""Measure what noticing drift costs the built-in store (not a test; run by hand).

    .venv/bin/python benchmarks/drift_marks.py [ROWS] [FOLDER]

With ROWS people in a fresh SQLite store, prints seconds for: reading the drift marks on
a night without drift (what every plan now adds), filebridge applying 1% field updates
and 1% deactivations with the drift triggers installed and with them dropped, and an
outside ``UPDATE`` of 1% of the people (which the triggers record).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from filebridge.lms.drift import drift_marks
from filebridge.lms.sqlstore import SqlStore
from filebridge.plan.model import Plan
from filebridge.sql import open_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store_bulk import people  # noqa: E402  (the same people as the store benchmark)

TRIGGERS = ("users_drift", "user_attributes_drift_insert", "user_attributes_drift_update",
            "user_attributes_drift_delete")


def night(store: SqlStore, ids: list[str], gone: list[str], fields: tuple[str, ...],
          run: int) -> float:
    """Seconds to apply 1% email updates and 1% deactivations."""
    updates = pd.DataFrame({"employee_id": ids, "field": "email", "old": "",
                            "new": f"run{run}@y", "line": 2})
    plan = Plan("acme", "snapshot", fields, updates=updates,
                fingerprints=pd.DataFrame({"employee_id": ids, "fingerprint": run}),
                deactivations=pd.DataFrame({"employee_id": gone, "reason": "leaver",
                                            "line": None}))
    t = time.perf_counter()
    with store.engine.begin() as tx:
        store.apply_within(tx, plan, run, datetime.now(UTC))
    return time.perf_counter() - t


def main(rows: int, folder: Path) -> None:
    """Run the measurements against a fresh SQLite file in ``folder``."""
    engine = open_engine(f"sqlite:///{folder / 'bench.db'}")
    store = SqlStore(engine)
    store.migrate()
    creates = people(rows)
    fields = tuple(c for c in creates.columns if c not in ("fingerprint", "line"))
    with engine.begin() as tx:
        store.apply_within(tx, Plan("acme", "snapshot", fields, creates=creates), 1,
                           datetime.now(UTC))
    ids = creates["employee_id"].iloc[::100].tolist()
    best = min(_timed(lambda: drift_marks(engine, "acme")) for _ in range(5))
    print(f"drift marks read, none there ({rows} people): {best * 1000:.1f} ms")
    print(f"apply 1% updates + 1% deactivations, triggers on: "
          f"{night(store, ids, creates['employee_id'].iloc[1::100].tolist(), fields, 2):.2f} s")
    t = time.perf_counter()
    with engine.begin() as tx:
        tx.exec_driver_sql("UPDATE users SET job_title = 'by hand' WHERE id % 100 = 3")
    print(f"outside UPDATE of 1% of the people (marks recorded): "
          f"{time.perf_counter() - t:.2f} s")
    best = min(_timed(lambda: drift_marks(engine, "acme")) for _ in range(5))
    print(f"drift marks read, 1% drifted: {best * 1000:.1f} ms")
    with engine.begin() as tx:
        for name in TRIGGERS:
            tx.exec_driver_sql(f"DROP TRIGGER {name}")
    print(f"apply 1% updates + 1% deactivations, triggers off: "
          f"{night(store, ids, creates['employee_id'].iloc[2::100].tolist(), fields, 3):.2f} s")


def _timed(call: object) -> float:
    t = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - t


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    if len(sys.argv) > 2:
        main(count, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(count, Path(tmp))
