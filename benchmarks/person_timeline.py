"""Measure ``filebridge person`` on a large store (not a test; run by hand).

    .venv/bin/python benchmarks/person_timeline.py [PEOPLE] [NIGHTS] [FOLDER]

Builds a SQLite workspace with PEOPLE (default 1,000,000) people created by one run and
NIGHTS (default 100) nights of history written synthetically: per night a ledger file
and run, and journal rows for 1% of the people (a field change each, with its line),
0.1% leavers and 0.1% returners, inserted in bulk rather than by real imports. Then
times the library call ``person_timeline`` (warm, median of 5) and the whole
``filebridge person`` process for a person touched on many nights.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.store_bulk import people  # noqa: E402
from filebridge.lms.schema import PERSON_FIELDS, changes  # noqa: E402
from filebridge.pipeline.context import open_context  # noqa: E402
from filebridge.pipeline.person import person_timeline  # noqa: E402
from filebridge.plan.model import Plan  # noqa: E402
from filebridge.sql import execute_many  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def workspace(folder: Path) -> Path:
    """settings.yaml with one connection ``acme`` and the acme mapping."""
    (folder / "mappings").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "mappings" / "acme.yaml", folder / "mappings" / "acme.yaml")
    settings = folder / "settings.yaml"
    settings.write_text("""state_dir: state
lms:
  url: sqlite:///{state_dir}/lms.sqlite
connections:
  acme:
    import_mapping: mappings/acme.yaml
    transport: {type: local, inbox: drop/acme, pattern: "acme_*.csv"}
""", encoding="utf-8")
    return settings


def build(settings: Path, count: int, nights: int) -> str:
    """Fill the store and ledger; returns the id of a person with a long history."""
    ctx = open_context(settings)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fields = ("employee_id", *PERSON_FIELDS, "custom.cost_center")
    file = ctx.ledger.record_file("acme", "initial.csv", "0" * 64, 1, "/gone/initial.csv", start)
    run = ctx.ledger.start_run("acme", "import", "apply", file.id, start)
    with ctx.store.engine.begin() as tx:
        ctx.store.apply_within(tx, Plan("acme", "snapshot", fields, creates=people(count)),
                               run, start)
    ctx.ledger.finish_run(run, "applied", {"create": count}, {}, None, start)
    rng = np.random.default_rng(19)
    ids = np.char.zfill(np.arange(count).astype(str), 8)
    for night in range(1, nights + 1):
        at = start + timedelta(days=night)
        file = ctx.ledger.record_file("acme", f"acme_{at:%Y-%m-%d}.csv", f"{night:064d}", 1,
                                      f"/gone/{night}.csv", at)
        run = ctx.ledger.start_run("acme", "import", "apply", file.id, at)
        changed = rng.choice(count, count // 100, replace=False)
        changed[0] = 7  # person 00000007 changes every night
        leavers = rng.choice(count, count // 1000, replace=False)
        with ctx.store.engine.begin() as tx:
            execute_many(tx, changes.insert(), {
                "employee_id": ids[changed].tolist(),
                "field": ["job_title"] * len(changed),
                "old": [f"title {night - 1}"] * len(changed),
                "new": [f"title {night}"] * len(changed),
                "line": (changed + 2).tolist()},
                {"run_id": run, "connection": "acme", "action": "update", "at": at})
            for action in ("deactivate", "reactivate"):
                execute_many(tx, changes.insert(), {
                    "employee_id": ids[leavers].tolist(), "line": (leavers + 2).tolist(),
                    "reason": ["missing from snapshot" if action == "deactivate"
                               else "active again in file"] * len(leavers)},
                    {"run_id": run, "connection": "acme", "action": action, "at": at})
        ctx.ledger.finish_run(run, "applied", {"update": len(changed)}, {}, None, at)
    with ctx.store.engine.connect() as conn:
        journal = conn.scalar(sa.select(sa.func.count()).select_from(changes))
    print(f"store: {count:,} people, {nights} nights, {journal:,} journal rows")
    ctx.close()
    return str(ids[7])


def main(count: int, nights: int, folder: Path) -> None:
    """Build, then time the library call and the command."""
    settings = workspace(folder)
    t = time.perf_counter()
    who = build(settings, count, nights)
    print(f"build: {time.perf_counter() - t:.1f} s")
    ctx = open_context(settings)
    laps = []
    for _ in range(5):
        t = time.perf_counter()
        answer = person_timeline(ctx, "acme", who)
        laps.append(time.perf_counter() - t)
    ctx.close()
    print(f"library call person_timeline({who}): {len(answer.timeline)} runs, "
          f"median {statistics.median(laps):.3f} s (min {min(laps):.3f}, max {max(laps):.3f})")
    command = [sys.executable, "-m", "filebridge.cli.main", "person", "acme", who,
               "--settings", str(settings), "--json"]
    laps = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        laps.append(time.perf_counter() - t)
    print(f"whole process `filebridge person acme {who} --json`: median "
          f"{statistics.median(laps):.2f} s (min {min(laps):.2f})")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 1_000_000, int(args[1]) if len(args) > 1 else 100,
         Path(args[2]) if len(args) > 2 else Path(tempfile.mkdtemp()))
