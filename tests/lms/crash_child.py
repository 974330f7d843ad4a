"""Child process for the crash test: applies a big plan in one transaction.

    python tests/lms/crash_child.py URL ROWS RUN_ID

Prints ``begun`` once the write transaction is open, ``committed`` after commit.
The parent SIGKILLs it somewhere in between (or after).
"""

from __future__ import annotations

import sys

from filebridge.ledger import Ledger
from filebridge.lms import SqlStore
from filebridge.sql import open_engine
from tests.lms.contract import NOW
from tests.lms.plans import person, plan


def big_plan(rows: int):  # noqa: ANN201 - a Plan; kept import-light for the child
    """The plan the crash test applies: ``rows`` creates plus some updates and a leaver."""
    people = [
        person(
            f"n{i:06d}",
            email=f"{i}@x",
            department_code=f"D{i % 40}",
            job_title=f"T{i % 7}",
            custom_cost_center=f"C{i % 3}",
        )
        for i in range(rows)
    ]
    return plan(
        new=people,
        changed=[("old1", "email", "o1@x", "moved@x")],
        new_fps={"old1": 99},
        leavers=["old2"],
    )


def main(url: str, rows: int, run_id: int) -> None:
    """Apply ``big_plan(rows)`` and mark run ``run_id`` applied in the same transaction."""
    engine = open_engine(url)
    store, ledger = SqlStore(engine), Ledger(engine)
    the_plan = big_plan(rows)
    with engine.begin() as tx:
        print("begun", flush=True)
        counts = store.apply_within(tx, the_plan, run_id, NOW)
        ledger.finish_run(
            run_id, "applied", counts, {"plan": the_plan.to_dict(10)}, None, NOW, tx=tx
        )
    print("committed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
