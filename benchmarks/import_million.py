"""Benchmark: a 1,000,000-employee export, then a night with 1% changes, 0.5% hires and
0.5% leavers, then a no-op replay of that night, against references run beside it.

    python benchmarks/import_million.py [--rows 1000000] [--rounds 3] [--workdir DIR]
                                        [--no-postgres]

Every round runs, interleaved, in this order: pyarrow's parse of the night's file (the
floor), a hand-written duckdb SQL script loading the first file into an empty database
(initial) and then applying the night (creates, field updates, leavers, one transaction),
and the product's `filebridge apply` of the same two files into a fresh SQLite store plus
a `filebridge replay` of the night (the no-op). Ratios are taken within a round, so a
machine shared with other work moves both sides of a ratio together; the medians over
the rounds are reported. Once after the rounds, the same initial load and night run
against a throw-away PostgreSQL cluster when Debian's server binaries are installed.

Every phase is a fresh process started by this small driver (it imports no pandas,
Arrow or duckdb itself): a child's peak RSS starts at its parent's resident size, so a
big driver would inflate every figure. duckdb is only in the `bench` extra.

The last line is the summary, one line like (wrapped here)
RESULT rows=1000000 night/duckdb=1.23 noop/floor=3.4 initial/duckdb=2.9 peak_mb=580
us_per_row_night=6.1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = "1"


# --- data (runs in its own process: the frames are big) -------------------------------
def _company(ids, rng):  # type: ignore[no-untyped-def]
    """One row per id, every column text, managers forming a 10-wide tree."""
    import numpy as np
    import pandas as pd
    first = np.array(["Anna", "Zoë", "José", "Liam", "Noah", "Emma", "Mia", "Lucas", "Sofia",
                      "Chen"])
    last = np.array(["Berg", "Müller", "García", "O'Brien", "Smith, Jr.", "Dubois", "Rossi",
                     "Nowak"])
    depts = np.array(["Engineering", "Research, Development", "Sales", "Finance",
                      "Operations"])
    titles = np.array(["Engineer", "Senior Engineer", "Manager, Sales", "Analyst",
                       "Operator"])
    cities = np.array(["Berlin", "Paris", "London", "Madrid"])
    countries = np.array(["DE", "FR", "GB", "ES"])
    n = len(ids)
    site = rng.integers(0, 4, n)
    emp = pd.Series(ids).map("{:08d}".format)
    manager = pd.Series(np.maximum(ids // 10, 1)).map("{:08d}".format).where(ids >= 10, "")
    return pd.DataFrame({
        "Employee ID": emp,
        "Work Email": "p" + emp + "@big.example",
        "First Name": first[rng.integers(0, len(first), n)],
        "Last Name": last[rng.integers(0, len(last), n)],
        "Job Title": titles[rng.integers(0, len(titles), n)],
        "Department": depts[ids % len(depts)],
        "Dept Code": pd.Series(ids % len(depts)).map("D{:02d}".format),
        "Location": cities[site], "Country": countries[site],
        "Phone": pd.Series(rng.integers(10**8, 10**9, n)).map("+49 {:d}".format),
        "Type": np.array(["FT", "PT", "CT"])[rng.integers(0, 3, n)],
        "Manager ID": manager,
        "Hire Date": pd.Series(rng.integers(1, 29, n)).map("{:02d}/03/2020".format),
        "Termination Date": "", "Status": "A",
        "Cost Center": pd.Series(rng.integers(100, 999, n)).map("CC-{:d}".format),
    })


def generate(rows: int, folder: Path) -> None:
    """Night 0 (everyone) and night 1 (1% changed, 0.5% hired, 0.5% left), seeded."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    rng = np.random.default_rng(20261125)
    night0 = _company(np.arange(1, rows + 1), rng)
    night1 = night0.copy()
    changed = rng.choice(rows, rows // 100, replace=False)
    night1.loc[changed, "Job Title"] = "Promoted " + night1.loc[changed, "Job Title"]
    leavers = rng.choice(np.arange(rows // 2, rows), rows // 200, replace=False)
    night1 = night1.drop(index=leavers)
    hires = _company(np.arange(rows + 1, rows + 1 + rows // 200), rng)
    night1 = pd.concat([night1, hires], ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in ((night0, "night0.csv"), (night1, "night1.csv")):
        table = pa.Table.from_pandas(frame.astype(str), preserve_index=False)
        pacsv.write_csv(table, folder / name)
    (folder / "version").write_text(GENERATOR_VERSION)


# --- the references (each runs in its own process) ------------------------------------
def floor(path: Path) -> None:
    """pyarrow's parse of the file: no product reads it faster."""
    import pyarrow.csv as pacsv
    pacsv.read_csv(path)


# The acme mapping's fields, written as SQL: the same columns the product stores.
_MAPPED = """
    trim("Employee ID") AS employee_id,
    lower(trim("Work Email")) AS email,
    regexp_replace(trim("First Name"), '\\s+', ' ', 'g') AS first_name,
    regexp_replace(trim("Last Name"), '\\s+', ' ', 'g') AS last_name,
    regexp_replace(trim("Job Title"), '\\s+', ' ', 'g') AS job_title,
    trim("Department") AS department,
    upper(trim("Dept Code")) AS department_code,
    "Location" AS location,
    upper(trim("Country")) AS country,
    regexp_replace(trim("Phone"), '[ ()-]', '', 'g') AS phone,
    'en' AS language,
    CASE "Type" WHEN 'FT' THEN 'full-time' WHEN 'PT' THEN 'part-time'
                WHEN 'CT' THEN 'contractor' END AS employee_type,
    nullif(trim("Manager ID"), '') AS manager_id,
    CAST(strptime(nullif("Hire Date", ''), '%d/%m/%Y') AS DATE) AS hire_date,
    CAST(strptime(nullif("Termination Date", ''), '%d/%m/%Y') AS DATE) AS termination_date,
    "Cost Center" AS cost_center,
    trim("First Name") || ' ' || trim("Last Name") AS display_name
"""
_FIELDS = ["email", "first_name", "last_name", "job_title", "department", "department_code",
           "location", "country", "phone", "language", "employee_type", "manager_id",
           "hire_date", "termination_date", "cost_center", "display_name"]


def duckdb_initial(path: Path, database: Path) -> None:
    """Load everyone into an empty duckdb database, in one transaction."""
    import duckdb
    con = duckdb.connect(str(database))
    con.execute("BEGIN")
    con.execute(f"CREATE TABLE people AS SELECT {_MAPPED}, true AS active "
                "FROM read_csv(?, all_varchar = true, header = true)", [str(path)])
    con.execute("COMMIT")
    con.close()


def duckdb_night(path: Path, database: Path) -> None:
    """Diff the file against the database and apply creates, updates and leavers."""
    import duckdb
    con = duckdb.connect(str(database))
    con.execute("BEGIN")
    con.execute(f"CREATE TEMP TABLE incoming AS SELECT {_MAPPED} "
                "FROM read_csv(?, all_varchar = true, header = true)", [str(path)])
    created = con.execute(
        "INSERT INTO people SELECT i.*, true FROM incoming i "
        "ANTI JOIN people p USING (employee_id)").fetchone()
    differs = " OR ".join(f"p.{f} IS DISTINCT FROM i.{f}" for f in _FIELDS)
    sets = ", ".join(f"{f} = i.{f}" for f in _FIELDS)
    updated = con.execute(
        f"UPDATE people p SET {sets}, active = true FROM incoming i "
        f"WHERE p.employee_id = i.employee_id AND ({differs} OR NOT p.active)").fetchone()
    left = con.execute(
        "UPDATE people SET active = false WHERE active AND employee_id NOT IN "
        "(SELECT employee_id FROM incoming)").fetchone()
    con.execute("COMMIT")
    con.close()
    print(json.dumps({"created": created and created[0], "updated": updated and updated[0],
                      "deactivated": left and left[0]}))


# --- the driver ---------------------------------------------------------------------
@dataclass(frozen=True)
class Phase:
    """One phase's wall seconds, its process's peak RSS, and what it printed."""

    seconds: float
    rss_mb: float
    code: int
    stdout: str
    stderr: str

    def timings(self) -> str:
        """The product's own stage timings, when it printed a JSON report."""
        try:
            report = json.loads(self.stdout)
        except ValueError:
            return self.stdout.strip()[:200]
        if not isinstance(report, dict) or "timings" not in report:
            return self.stdout.strip()[:200]
        stages, counts = report["timings"], report.get("counts", {})
        shown = {k: v for k, v in counts.items() if v}
        return "  ".join(f"{k} {v:.2f}" for k, v in stages.items()) + f"   {shown}"


def run(args: list[str], env: dict[str, str] | None = None) -> Phase:
    """Run ``args`` in a fresh process and measure it."""
    os.sync()  # the previous phase's dirty pages are written back before this one starts
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed ({code}):\n{stderr}")
    return Phase(seconds, usage.ru_maxrss / 1024, code, stdout, stderr)


def self_phase(name: str, *args: Path) -> list[str]:
    """A command running one of this script's own phases in a fresh process."""
    return [sys.executable, __file__, "--phase", name, *map(str, args)]


def settings(folder: Path, url: str, mapping: Path) -> Path:
    """A settings file for a fresh state folder (thresholds opened for the 0.5% leavers)."""
    state = folder / "state"
    if folder.exists():
        shutil.rmtree(folder)
    state.mkdir(parents=True)
    path = folder / "settings.yaml"
    path.write_text(f"""state_dir: {state}
lms:
  url: {url.replace('{state}', str(state))}
connections:
  big:
    import_mapping: {mapping}
    transport: {{type: local, inbox: {folder / 'inbox'}, pattern: "*.csv"}}
    thresholds:
      deactivate: {{percent: 10, count: 100000}}
""")
    return path


def product(conf: Path, verb: str, path: Path) -> Phase:
    """``filebridge apply`` (or ``replay``) of ``path`` as its own process."""
    cli = [sys.executable, "-m", "filebridge.cli.main"]
    extra = ["--yes"] if verb == "replay" else ["big"]
    return run([*cli, verb, *extra, str(path), "--settings", str(conf), "--json"])


def median(values: list[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def show(label: str, phase: Phase) -> None:
    """One phase's line."""
    print(f"  {label:<22} {phase.seconds:7.2f} s  peak RSS {phase.rss_mb:6.0f} MB  "
          f"{phase.timings()}", flush=True)


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust auth, fsync off)."""

    def __init__(self, root: Path) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise FileNotFoundError("no /usr/lib/postgresql/*/bin/pg_ctl")
        self.bin = found[-1].parent
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.root = root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def _pg(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True)

    def start(self) -> str:
        """Start the cluster; the URL of its empty ``bench`` database."""
        if self.as_user:  # the server refuses root; the cluster belongs to Debian's postgres
            shutil.chown(self.root, "postgres")
        data = self.root / "data"
        self._pg(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "filebridge",
                 "-E", "UTF8", "--no-sync")
        self._pg(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"), "-w",
                 "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                 "-c fsync=off -c max_wal_size=4GB", "start")
        self._pg(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                 "-U", "filebridge", "bench")
        return f"postgresql+psycopg://filebridge@127.0.0.1:{self.port}/bench"

    def stop(self) -> None:
        """Stop the cluster and remove its files."""
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_night(work: Path, mapping: Path, night0: Path, night1: Path,
                   sqlite_night: float) -> None:
    """The same initial load and night on PostgreSQL, printed beside SQLite's."""
    try:
        server = Postgres(Path(tempfile.mkdtemp(prefix="fb-bench-pg-")))
    except FileNotFoundError as exc:
        print(f"PostgreSQL: skipped ({exc})")
        return
    try:
        url = server.start()
        conf = settings(work / "pg", url, mapping)
        initial = product(conf, "apply", night0)
        show("pg initial load", initial)
        night = product(conf, "apply", night1)
        show("pg 1% night", night)
        print(f"POSTGRES night={night.seconds:.2f}s initial={initial.seconds:.2f}s "
              f"sqlite_night={sqlite_night:.2f}s pg/sqlite={night.seconds / sqlite_night:.2f}",
              flush=True)
    finally:
        server.stop()


def data(rows: int, workdir: Path) -> Path:
    """The generated files for ``rows`` (made once, in a fresh process)."""
    folder = workdir / f"rows-{rows}"
    version = folder / "version"
    if not version.exists() or version.read_text() != GENERATOR_VERSION:
        start = time.perf_counter()
        subprocess.run([*self_phase("generate", folder), "--rows", str(rows)], check=True)
        print(f"generated {rows:,} rows in {time.perf_counter() - start:.1f} s")
    return folder


def loadavg() -> str:
    """The machine's load averages (other work on a shared machine)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def drive(args: argparse.Namespace) -> None:
    """Generate once, then interleave the rounds and print the summary."""
    folder = data(args.rows, args.workdir)
    night0, night1 = folder / "night0.csv", folder / "night1.csv"
    mapping = REPO / "mappings" / "acme.yaml"
    # Byte-compile the package as `pip install` does, so no phase compiles it.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "filebridge")],
                   check=True)
    print(f"{args.rows:,} rows, {night1.stat().st_size / 1e6:.0f} MB; {os.cpu_count()} cores; "
          f"load average {loadavg()}", flush=True)
    work = args.workdir / "runs"
    series: dict[str, list[Phase]] = {k: [] for k in
                                      ("floor", "duckdb_initial", "duckdb_night", "initial",
                                       "night", "noop")}
    for k in range(args.rounds):
        print(f"round {k + 1}/{args.rounds} (load average {loadavg()})", flush=True)
        duck = work / "duck.db"
        duck.unlink(missing_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        for name, command in (("floor", self_phase("floor", night1)),
                              ("duckdb_initial", self_phase("duckdb-initial", night0, duck)),
                              ("duckdb_night", self_phase("duckdb-night", night1, duck))):
            series[name].append(run(command))
            show(name, series[name][-1])
        conf = settings(work / "sqlite", "sqlite:///{state}/lms.sqlite", mapping)
        for name, verb, path in (("initial", "apply", night0), ("night", "apply", night1),
                                 ("noop", "replay", night1)):
            series[name].append(product(conf, verb, path))
            show(name, series[name][-1])
        duck.unlink(missing_ok=True)

    def ratio(top: str, bottom: str) -> float:
        return median([a.seconds / b.seconds for a, b in zip(series[top], series[bottom],
                                                             strict=True)])

    seconds = {k: median([p.seconds for p in v]) for k, v in series.items()}
    print("medians: " + "  ".join(f"{k} {v:.2f} s" for k, v in seconds.items()))
    peaks = {k: max(p.rss_mb for p in series[k]) for k in ("initial", "night", "noop")}
    print("peak RSS: " + "  ".join(f"{k} {v:.0f} MB" for k, v in peaks.items())
          + f"  (floor {max(p.rss_mb for p in series['floor']):.0f} MB, this driver "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    if args.postgres:
        postgres_night(work, mapping, night0, night1, seconds["night"])
    print(f"load average at the end {loadavg()}")
    print(f"RESULT rows={args.rows} night/duckdb={ratio('night', 'duckdb_night'):.2f} "
          f"noop/floor={ratio('noop', 'floor'):.1f} "
          f"initial/duckdb={ratio('initial', 'duckdb_initial'):.1f} "
          f"peak_mb={max(peaks.values()):.0f} "
          f"us_per_row_night={seconds['night'] / args.rows * 1e6:.1f}")


def two_checkouts(doc: str, rows: int, rounds: int | None) -> argparse.Namespace:
    """The arguments of a script comparing two checkouts (BEFORE and AFTER) on generated
    files: ``--rows``, ``--workdir``, ``--rounds`` unless ``rounds`` is None; paths made
    absolute."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=rows)
    if rounds is not None:
        parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("checkouts", nargs=2, type=Path, help="BEFORE and AFTER checkouts")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    args.checkouts = [c.resolve() for c in args.checkouts]
    return args


def main() -> None:
    """Parse the arguments; run one phase (a child) or drive the whole benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "data")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false",
                        help="skip the PostgreSQL night")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    children = {"generate": lambda p: generate(args.rows, *p), "floor": lambda p: floor(*p),
                "duckdb-initial": lambda p: duckdb_initial(*p),
                "duckdb-night": lambda p: duckdb_night(*p)}
    if args.phase:
        children[args.phase](args.paths)
    else:
        drive(args)


if __name__ == "__main__":
    main()
