"""Benchmark: many customers on one store. N connections (default 100), each with its own
inbox and an R-row export (default 10,000; every customer uses the same department
codes), two nights, served by D watching daemons (default 1) on one store.

    python benchmarks/fleet.py [--connections 100] [--rows 10000] [--daemons 1]
                               [--store-url postgresql+psycopg://user@127.0.0.1:5432/db]
                               [--workdir DIR] [--max-parallel-runs 4]

SQLite (the default store, under the work folder) takes one daemon; PostgreSQL (a URL;
password from FILEBRIDGE_BENCH_PASSWORD) one or more. Each night drops every
connection's file at once and waits until each is applied. Printed per night: how many
connections applied the night's file exactly once (must be all), wall seconds, runs per
minute, p50/p95 seconds from the drop to the applied mark; and each daemon's peak RSS
(kernel rusage of the process) and idle RSS after each night. Exit 1 if any connection
was not applied exactly once.

The same script is the memory soak: `--connections 50 --rows 2000 --nights 30` prints
the daemon's idle RSS after every night (it must not grow after the first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
HEADER = ("Employee ID,Work Email,First Name,Last Name,Job Title,Department,Dept Code,"
          "Location,Country,Phone,Type,Manager ID,Hire Date,Termination Date,Status,"
          "Cost Center\n")
PASSWORD_ENV = "FILEBRIDGE_BENCH_PASSWORD"


def night_file(folder: Path, connection: str, night: int, rows: int) -> str:
    """Night ``night`` of ``connection``: 1% of the people change title each night."""
    name = f"hr_2026-12-{night:02d}.csv"
    body = "".join(
        f"{connection}-{i:05d},p{i}.{connection}@example.com,Pat,Doe{i},"
        f"Title {(i + (night if i % 100 == 0 else 0)) % 7},Sales,SALES{i % 20},Berlin,DE,"
        f"+49 1,FT,,01/01/2020,,A,CC{i % 5}\n" for i in range(rows))
    part = folder / f".{name}.tmp"
    part.write_text(HEADER + body, encoding="utf-8")
    os.replace(part, folder / name)
    return name


def workspace(root: Path, connections: list[str], url: str, daemons: int,
              parallel: int) -> list[Path]:
    """Settings (one state folder per daemon, as on separate hosts), mapping, schedules."""
    (root / "mappings").mkdir(parents=True)
    (root / "schedules").mkdir()
    shutil.copy(REPO / "mappings" / "acme.yaml", root / "mappings" / "shared.yaml")
    blocks = []
    for c in connections:
        (root / "drop" / c).mkdir(parents=True)
        blocks.append(f"  {c}:\n    import_mapping: mappings/shared.yaml\n"
                      f"    transport: {{type: local, inbox: drop/{c}, pattern: 'hr_*.csv', "
                      "ready: {stable_seconds: 0}}\n")
        (root / "schedules" / f"{c}.yaml").write_text(
            f'connection: {c}\nwatch: true\ntasks: [{{task: import, cron: "0 22 * * *"}}]\n')
    password = f"  password: ${{env:{PASSWORD_ENV}}}\n" if url.startswith("postgres") else ""
    paths = []
    for k in range(daemons):
        path = root / f"settings-{k}.yaml"
        store = url if url.startswith("postgres") else f"sqlite:///{root}/state.sqlite"
        path.write_text(f"state_dir: state-{k}\nmax_parallel_runs: {parallel}\n"
                        f"lms:\n  url: {store}\n{password}connections:\n" + "".join(blocks),
                        encoding="utf-8")
        paths.append(path)
    return paths


def rss_kib(pid: int, field: str) -> int:
    """VmRSS or VmHWM (peak) of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def applied_at(engine: sa.Engine, name: str) -> dict[str, list[datetime]]:
    """Per connection, when each run that applied a file called ``name`` finished."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT r.connection, r.finished_at FROM runs r JOIN files f ON f.id = r.file_id "
            "WHERE f.name = :name AND r.state = 'applied'"), {"name": name}).all()
    out: dict[str, list[datetime]] = {}
    for connection, finished in rows:
        if isinstance(finished, str):
            finished = datetime.fromisoformat(finished)
        out.setdefault(connection, []).append(finished)
    return out


def main() -> int:
    """Run the benchmark and print its figures (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument("--nights", type=int, default=2)
    parser.add_argument("--store-url", default="sqlite")
    parser.add_argument("--max-parallel-runs", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per night")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.store_url == "sqlite" and args.daemons != 1:
        parser.error("a SQLite store is served by one daemon")
    root = Path(tempfile.mkdtemp(prefix="fleet-", dir=args.workdir))
    connections = [f"c{n:03d}" for n in range(args.connections)]
    settings = workspace(root, connections, args.store_url, args.daemons,
                         args.max_parallel_runs)
    if args.store_url == "sqlite":
        engine = sa.create_engine(f"sqlite:///{root}/state.sqlite")
    else:
        url = sa.make_url(args.store_url).set(password=os.environ.get(PASSWORD_ENV))
        engine = sa.create_engine(url)
    logs = [(root / f"daemon-{k}.log").open("w") for k in range(args.daemons)]
    procs = [subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", "run",
                               "--settings", str(s)], stdout=log, stderr=subprocess.STDOUT)
             for s, log in zip(settings, logs, strict=True)]
    figures: dict[str, object] = {"connections": args.connections, "rows": args.rows,
                                  "daemons": args.daemons, "store": args.store_url.split(":")[0],
                                  "max_parallel_runs": args.max_parallel_runs, "nights": []}
    ok = True
    try:
        deadline = time.monotonic() + 300
        while not all("daemon started" in (root / f"daemon-{k}.log").read_text()
                      for k in range(args.daemons)):
            if time.monotonic() > deadline:
                raise SystemExit("the daemons did not start")
            time.sleep(0.5)
        figures["idle_rss_mib_at_start"] = [round(rss_kib(p.pid, "VmRSS") / 1024)
                                            for p in procs]
        for night in range(1, args.nights + 1):
            dropped: dict[str, float] = {}
            name = ""
            started = time.time()
            for c in connections:
                name = night_file(root / "drop" / c, c, night, args.rows)
                dropped[c] = time.time()
            limit = time.monotonic() + args.timeout
            while len(done := applied_at(engine, name)) < len(connections):
                if time.monotonic() > limit or any(p.poll() is not None for p in procs):
                    break
                time.sleep(1.0)
            wall = time.time() - started
            waits = sorted(max(0.0, f[0].timestamp() - dropped[c]) for c, f in done.items())
            once = sum(len(f) == 1 for f in done.values())
            ok = ok and once == len(connections) and len(done) == len(connections)
            time.sleep(5)  # let the daemons go idle before measuring
            night_figures = {
                "night": night, "applied_exactly_once": once, "of": len(connections),
                "wall_seconds": round(wall, 1),
                "runs_per_minute": round(len(done) / wall * 60, 1) if wall else None,
                "p50_drop_to_applied_s": round(statistics.median(waits), 1) if waits else None,
                "p95_drop_to_applied_s": round(waits[int(0.95 * (len(waits) - 1))], 1)
                if waits else None,
                "idle_rss_mib": [round(rss_kib(p.pid, "VmRSS") / 1024) for p in procs],
                "peak_rss_mib": [round(rss_kib(p.pid, "VmHWM") / 1024) for p in procs],
                "threads": [len(os.listdir(f"/proc/{p.pid}/task")) for p in procs],
            }
            figures["nights"].append(night_figures)  # type: ignore[attr-defined]
            if not args.json:
                print(json.dumps(night_figures), flush=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=300)
        for log in logs:
            log.close()
    with engine.connect() as conn:
        figures["runs_left_running"] = conn.scalar(
            sa.text("SELECT count(*) FROM runs WHERE state = 'running'"))
        figures["lock_rows_left"] = conn.scalar(sa.text("SELECT count(*) FROM locks"))
    figures["workdir"] = str(root)
    print(json.dumps(figures, indent=None if args.json else 1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
