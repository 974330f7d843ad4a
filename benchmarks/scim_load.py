"""SCIM target benchmark: a 10,000-person initial load and a 1% night against a local
scim2-server, with and without Bulk.

Starts ``scim2-server`` (installed by the ``test`` extra) on 127.0.0.1, plans each night
with filebridge's own planner against the SCIM target's mirror, applies it, and prints
per phase: HTTP requests sent, requests per second and wall seconds of the apply.

    .venv/bin/python benchmarks/scim_load.py [PEOPLE]
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from filebridge.lms.scim import ScimLms, ScimTarget
from filebridge.plan.diff import DiffOptions, diff
from filebridge.sql import open_engine

FIELDS = ("employee_id", "email", "first_name", "last_name", "job_title", "department",
          "manager_id")
TOKEN = "bench-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def people(n: int, rng: random.Random) -> pd.DataFrame:
    """``n`` people in a manager tree (each reports to someone earlier in the list)."""
    rows = []
    for i in range(n):
        eid = f"{i:06d}"
        rows.append({"employee_id": eid, "email": f"p{i}@bench.example",
                     "first_name": rng.choice(["Ann", "Bo", "Chen", "Dee", "Eli"]),
                     "last_name": f"Name{rng.randrange(5000)}",
                     "job_title": rng.choice(["Engineer", "Analyst", "Manager", "Clerk"]),
                     "department": rng.choice(["Sales", "R&D", "Ops", "Finance"]),
                     "manager_id": f"{rng.randrange(i):06d}" if i else ""})
    return pd.DataFrame(rows, dtype=object)


def next_night(frame: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    """1% of the people changed: half edited, a quarter left, a quarter hired."""
    n = len(frame)
    k = max(4, n // 100)
    night = frame.copy()
    for i in rng.sample(range(1, n), k // 2):
        night.loc[i, "job_title"] = "Senior " + night.loc[i, "job_title"]
    leavers = rng.sample(range(1, n), k // 4)
    managers = set(night["manager_id"])
    leavers = [i for i in leavers if night.loc[i, "employee_id"] not in managers]
    night = night.drop(index=leavers).reset_index(drop=True)
    hires = pd.DataFrame([{"employee_id": f"H{j:05d}", "email": f"h{j}@bench.example",
                           "first_name": "New", "last_name": f"Hire{j}",
                           "job_title": "Engineer", "department": "Sales",
                           "manager_id": f"{rng.randrange(n // 2):06d}"}
                          for j in range(k // 4)], dtype=object)
    return pd.concat([night, hires], ignore_index=True)


def phase(lms: ScimLms, desired: pd.DataFrame, run_id: int) -> tuple[int, float, dict[str, int]]:
    """Plan ``desired`` against the target and apply it: (requests, seconds, counts)."""
    state = lms.state("bench")
    frame = desired.assign(line=range(2, len(desired) + 2))
    plan = diff("bench", frame, FIELDS, state.snapshot(), state.fetch, DiffOptions())
    started = time.perf_counter()
    result = lms.apply(plan, run_id, datetime.now(UTC))
    seconds = time.perf_counter() - started
    assert not result.failed, result.failed[:3]
    return lms.session("bench").requests, seconds, result.counts


def main() -> None:
    """Run both modes and print one line per phase."""
    warnings.simplefilter("ignore")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    command = shutil.which("scim2-server") or str(Path(sys.executable).parent / "scim2-server")
    folder = Path(tempfile.mkdtemp(prefix="filebridge-scim-bench-"))
    port = _free_port()
    server = subprocess.Popen([command, "--hostname", "127.0.0.1", "--port", str(port),
                               "--bearer-token", TOKEN, "--dynamic-tenants"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["BENCH_SCIM_TOKEN"] = TOKEN
    try:
        time.sleep(1.5)
        rng = random.Random(20261203)
        first = people(n, rng)
        second = next_night(first, rng)
        print(f"{n} people; night: {len(second)} rows | requests  req/s  seconds")
        for bulk in (True, False):
            url = f"http://127.0.0.1:{port}/bench{int(bulk)}/v2"
            engine = open_engine(f"sqlite:///{folder / f'state{int(bulk)}.sqlite'}")
            target = ScimTarget(url=url, token="${env:BENCH_SCIM_TOKEN}", bulk=bulk)
            lms = ScimLms({"bench": target}, engine)
            lms.prepare()
            for name, desired, run_id in (("initial load", first, 1), ("1% night", second, 2)):
                requests, seconds, counts = phase(lms, desired, run_id)
                changed = {k: v for k, v in counts.items() if v and k != "fields_updated"}
                print(f"{'Bulk' if bulk else 'no Bulk':8} {name:13} {requests:8} "
                      f"{requests / seconds:7.0f} {seconds:8.2f}   {changed}")
            lms.close()
            engine.dispose()
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
