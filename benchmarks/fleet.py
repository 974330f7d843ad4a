"""Benchmark: many customers on one store. N connections (default 100), each with its own
inbox and an R-row export (default 10,000; every customer uses the same department
codes), two nights, served by D watching daemons (default 1) on one store.

    python benchmarks/fleet.py [--connections 100] [--rows 10000] [--daemons 1]
                               [--store-url postgresql+psycopg://user@127.0.0.1:5432/db]
                               [--postgres] [--nights 2] [--workdir DIR]
                               [--max-parallel-runs 4]

SQLite (the default store, under the work folder) takes one daemon; PostgreSQL (a URL,
password from FILEBRIDGE_BENCH_PASSWORD, or `--postgres` for a throw-away cluster started
from the installed server binaries) one or more. Each night drops every
connection's file at once and waits until each is applied. Printed per night: how many
connections applied the night's file exactly once (must be all), wall seconds, runs per
minute, p50/p95 seconds from the drop to the applied mark; and each daemon's peak RSS,
idle RSS and thread count after each night. Exit 1 if any connection
was not applied exactly once.

The same script is the memory soak: `--connections 50 --rows 2000 --nights 30` prints
the daemon's idle RSS after every night (it must not grow after the first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.fleetsite import (  # noqa: E402  (the fleet tests' own set-up)
    applied,
    night_file,
    rss_kib,
    sqlite_engine,
    thread_count,
    workspace,
)
from tests.pgsite import pg_bin, running_postgres  # noqa: E402

PASSWORD_ENV = "FILEBRIDGE_BENCH_PASSWORD"


def main() -> int:
    """Run the benchmark and print its figures (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument("--nights", type=int, default=2)
    parser.add_argument("--store-url", default="sqlite")
    parser.add_argument("--postgres", action="store_true",
                        help="start a throw-away PostgreSQL cluster and use it as the store")
    parser.add_argument("--max-parallel-runs", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per night")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.store_url == "sqlite" and not args.postgres and args.daemons != 1:
        parser.error("a SQLite store is served by one daemon (use --postgres)")
    with ExitStack() as stack:
        url = args.store_url
        if args.postgres:
            bin_dir = pg_bin()
            if bin_dir is None:
                parser.error("--postgres needs the PostgreSQL server binaries")
            # Each daemon holds a pooled session per worker plus its lock session.
            server = stack.enter_context(running_postgres(
                bin_dir, max_connections=max(100, args.daemons * (args.max_parallel_runs + 8)
                                             * 2)))
            os.environ[PASSWORD_ENV] = server.password
            url = server.url(server.create_database(), with_password=False)
        return run(args, url)


def run(args: argparse.Namespace, url: str) -> int:
    """One benchmark on the store at ``url`` (``sqlite``: a file in the work folder)."""
    if args.workdir is not None:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="fleet-", dir=args.workdir))
    connections = [f"c{n:03d}" for n in range(args.connections)]
    postgres = url.startswith("postgres")
    settings = workspace(root, connections, **({"store": url} if postgres else {}),
                         daemons=args.daemons, max_parallel_runs=args.max_parallel_runs,
                         password_env=PASSWORD_ENV if postgres else None)
    if postgres:
        engine = sa.create_engine(sa.make_url(url).set(password=os.environ.get(PASSWORD_ENV)))
    else:
        engine = sqlite_engine(root)
    logs = [(root / f"daemon-{k}.log").open("w") for k in range(args.daemons)]
    procs = [subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", "run",
                               "--settings", str(s)], stdout=log, stderr=subprocess.STDOUT)
             for s, log in zip(settings, logs, strict=True)]
    figures: dict[str, object] = {"connections": args.connections, "rows": args.rows,
                                  "daemons": args.daemons,
                                  "store": "postgresql" if postgres else "sqlite",
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
        figures["threads_at_start"] = [thread_count(p.pid) for p in procs]
        for night in range(1, args.nights + 1):
            started, dropped = time.time(), {}
            for c in connections:
                name = night_file(root / "drop" / c, c, night, args.rows, change_every=100)
                dropped[c] = time.time()
            limit = time.monotonic() + args.timeout
            while len(done := applied(engine, name)) < len(connections):
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
                "threads": [thread_count(p.pid) for p in procs],
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
