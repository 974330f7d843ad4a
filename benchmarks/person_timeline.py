"""Measure ``filebridge person`` on a large store (not a test; run by hand).

    .venv/bin/python benchmarks/person_timeline.py [PEOPLE] [NIGHTS] [FOLDER]

Builds a SQLite workspace with PEOPLE (default 1,000,000) people created by one run and
NIGHTS (default 100) nights of history written synthetically: per night a ledger file
and run, and journal rows for 1% of the people (a field change each, with its line),
0.1% leavers and 0.1% returners, and 0.01% e-mail changes, inserted in bulk rather than
by real imports, and per-person row events for 0.1% of the people (a rejected row each,
written with the run's end as an import writes them). Then times the library call
``person_timeline`` (warm, median of 5) for each kind of query (employee id, current
e-mail, former e-mail, the start of a last name, "first last", a fragment from inside a
name, a name in other capitals and with "SS" for "ß", nobody) and the whole
``filebridge person`` process for a person touched on many nights. A FOLDER that holds a built
workspace is reused (opening it runs any new migrations first, and says how long).
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
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.store_bulk import people  # noqa: E402
from filebridge.ledger.person_events import EVENT_COLUMNS  # noqa: E402
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
    everyone = people(count)
    number = np.arange(count)
    # Names like an HR file's: 400 first names, 5,000 last names, shared by many people.
    everyone["first_name"] = "Given" + (number % 400).astype(str)
    everyone["last_name"] = "Family" + ((number * 7) % 5000).astype(str)
    everyone.loc[7, ["first_name", "last_name"]] = ["Zuzanna", "Wojciechowska-Oyelaran"]
    everyone.loc[8, ["first_name", "last_name"]] = ["Åsa", "Öberg-Straußfeld"]
    everyone["email"] = "p" + everyone["employee_id"] + "@acme.example"
    with ctx.store.engine.begin() as tx:
        ctx.store.apply_within(tx, Plan("acme", "snapshot", fields, creates=everyone),
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
        movers = rng.choice(count, max(count // 10000, 1), replace=False)
        with ctx.store.engine.begin() as tx:
            execute_many(tx, changes.insert(), {
                "employee_id": ids[movers].tolist(),
                "old": [f"old{night}.{i}@acme.example" for i in ids[movers]],
                "new": [f"p{i}@acme.example" for i in ids[movers]],
                "line": (movers + 2).tolist()},
                {"run_id": run, "connection": "acme", "action": "update", "field": "email",
                 "at": at})
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
        rejected = rng.choice(count, count // 1000, replace=False)
        rejected[0] = 7
        events = pd.DataFrame({c: [None] * len(rejected) for c in EVENT_COLUMNS})
        events["employee_id"], events["kind"] = ids[rejected], "reject"
        events["code"], events["field"] = "invalid-date", "Hire Date"
        events["value"], events["line"] = "31/02/2020", rejected + 2
        ctx.ledger.finish_run(run, "applied", {"update": len(changed)}, {}, None, at,
                              events=events)
    with ctx.store.engine.connect() as conn:
        journal = conn.scalar(sa.select(sa.func.count()).select_from(changes))
    with ctx.store.engine.begin() as tx:
        execute_many(tx, changes.insert(), {"employee_id": [ids[7]]}, {
            "run_id": run, "connection": "acme", "action": "update", "field": "email",
            "old": "zuzanna.w@acme.example", "new": f"p{ids[7]}@acme.example", "at": at})
    print(f"store: {count:,} people, {nights} nights, {journal:,} journal rows")
    ctx.close()
    return str(ids[7])


QUERIES = (
    ("employee id", "00000007"),
    ("current e-mail", "p00000007@acme.example"),
    ("former e-mail", "Zuzanna.W@acme.example"),
    ("start of a last name", "wojciech"),
    ('"first last"', "zuzanna wojc"),
    ("inside a name (trigram index)", "ciechowska"),
    ("other capitals, SS for ß", "ÖBERG-STRAUSS"),
    ("inside a name, other capitals", "STRAUSSF"),
    ("several people (a short list)", "Family12"),
    ("nobody (near matches)", "zzz-nobody"),
)


def main(count: int, nights: int, folder: Path) -> None:
    """Build (or reuse), then time the library call per kind of query, and the command."""
    settings = folder / "settings.yaml"
    if not settings.is_file():
        workspace(folder)
        t = time.perf_counter()
        build(settings, count, nights)
        print(f"build: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    ctx = open_context(settings)
    print(f"open (and migrate): {time.perf_counter() - t:.1f} s")
    who = "00000007"
    for label, query in QUERIES:
        laps = []
        for _ in range(5):
            t = time.perf_counter()
            answer = person_timeline(ctx, "acme", query)
            laps.append(time.perf_counter() - t)
        print(f"person_timeline {label} {query!r}: {answer.status}, {len(answer.timeline)} "
              f"runs, {len(answer.candidates)} candidates; median "
              f"{statistics.median(laps):.3f} s (min {min(laps):.3f}, max {max(laps):.3f})")
    ctx.close()
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
