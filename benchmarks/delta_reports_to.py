"""Measure what a ``reports_to`` group rule costs a delta file (not a test; run by hand).

    .venv/bin/python benchmarks/delta_reports_to.py [PEOPLE] [DELTA] [MOVED_PERCENT]

Two SQLite stores hold the same PEOPLE (default 100,000) with the test rules applied, one
with the rules' ``reports_to`` rule and one without it. A delta file naming DELTA people
(default 1,000), MOVED_PERCENT of them (default 0) moved to another department, is then
planned against each, interleaved, five times. A delta does not hold the hierarchy, so
with a ``reports_to`` rule every person in it has their memberships read and compared;
without one, only those whose group fingerprint changed. Prints the median seconds of
each plan, their ratio, and how many people each compared.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from filebridge.lms.sqlstore import SqlStore  # noqa: E402
from filebridge.sql import open_engine  # noqa: E402
from tests.plan.group_nights import RULES, Row, night, plan_file, row  # noqa: E402

DEPARTMENTS = ("Sales", "IT", "Finance", "Ops")
COUNTRIES = ("DE", "AT", "CH", "FR")


def people(size: int) -> list[Row]:
    """``size`` people in a binary hierarchy under E1, spread over departments."""
    return [row(f"E{i}", dept=DEPARTMENTS[i % 4], country=COUNTRIES[(i // 4) % 4],
                kind="contractor" if i % 10 == 0 else "", boss="" if i < 2 else f"E{i // 2}")
            for i in range(1, size + 1)]


def store_with(rows: list[Row], rules: list[dict[str, Any]]) -> SqlStore:
    """A fresh SQLite store with ``rows`` applied under ``rules``."""
    store = SqlStore(open_engine(f"sqlite:///{tempfile.mkdtemp()}/lms.sqlite"))
    store.prepare()
    night(store, rows, rules)
    return store


def main() -> None:
    """Print the medians, their ratio and the people compared."""
    size, count = (int(a) for a in (sys.argv[1:3] + ["100000", "1000"][len(sys.argv[1:3]):]))
    moved = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    rows = people(size)
    flat = [r for r in RULES if "reports_to" not in r]
    stores = {"with": store_with(rows, RULES), "without": store_with(rows, flat)}
    step = max(size // count, 1)
    every = max(int(100 / moved), 1) if moved else 0
    delta = [row(r[0], dept=("Finance" if every and i % every == 0 else r[3]), country=r[4],
                 kind=r[5], boss=r[6]) for i, r in enumerate(rows[::step][:count])]
    seconds: dict[str, list[float]] = {"with": [], "without": []}
    compared: dict[str, int] = {}
    for _ in range(5):
        for name, rules in (("with", RULES), ("without", flat)):
            start = time.perf_counter()
            plan = plan_file(stores[name], delta, rules, "delta").plan
            seconds[name].append(time.perf_counter() - start)
            compared[name] = len(plan.group_fingerprints)
    a, b = (statistics.median(seconds[k]) for k in ("with", "without"))
    print(f"{size} people, a delta of {len(delta)} ({moved:g}% moved): with reports_to "
          f"{a:.3f} s, without {b:.3f} s, ratio {a / b:.2f}; people compared "
          f"{compared['with']} vs {compared['without']}")


if __name__ == "__main__":
    main()
