"""Benchmark: a 1,000,000-employee export, then a night with 1% changes, 0.5% hires and
0.5% leavers, then a no-op replay of that night.

    python benchmarks/import_million.py [--rows 1000000] [--workdir benchmarks/data]

Each phase runs `filebridge apply` in its own process; the script prints wall seconds
and that process's peak RSS (from the kernel's rusage). Targets on a 2-core machine:
the 1% night ≤ 8 s and ≤ 1 GB; the no-op ≤ 5 s. Data is generated with a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

REPO = Path(__file__).resolve().parent.parent
FIRST = np.array(["Anna", "Zoë", "José", "Liam", "Noah", "Emma", "Mia", "Lucas", "Sofia", "Chen"])
LAST = np.array(["Berg", "Müller", "García", "O'Brien", "Smith, Jr.", "Dubois", "Rossi", "Nowak"])
DEPTS = np.array(["Engineering", "Research, Development", "Sales", "Finance", "Operations"])
TITLES = np.array(["Engineer", "Senior Engineer", "Manager, Sales", "Analyst", "Operator"])
CITIES = np.array(["Berlin", "Paris", "London", "Madrid"])
COUNTRIES = np.array(["DE", "FR", "GB", "ES"])


def company(ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """One row per id, every column text, managers forming a 10-wide tree."""
    n = len(ids)
    site = rng.integers(0, 4, n)
    emp = pd.Series(ids).map("{:08d}".format)
    manager = pd.Series(np.maximum(ids // 10, 1)).map("{:08d}".format).where(ids >= 10, "")
    return pd.DataFrame({
        "Employee ID": emp,
        "Work Email": "p" + emp + "@big.example",
        "First Name": FIRST[rng.integers(0, len(FIRST), n)],
        "Last Name": LAST[rng.integers(0, len(LAST), n)],
        "Job Title": TITLES[rng.integers(0, len(TITLES), n)],
        "Department": DEPTS[ids % len(DEPTS)],
        "Dept Code": pd.Series(ids % len(DEPTS)).map("D{:02d}".format),
        "Location": CITIES[site], "Country": COUNTRIES[site],
        "Phone": pd.Series(rng.integers(10**8, 10**9, n)).map("+49 {:d}".format),
        "Type": np.array(["FT", "PT", "CT"])[rng.integers(0, 3, n)],
        "Manager ID": manager,
        "Hire Date": pd.Series(rng.integers(1, 29, n)).map("{:02d}/03/2020".format),
        "Termination Date": "", "Status": "A",
        "Cost Center": pd.Series(rng.integers(100, 999, n)).map("CC-{:d}".format),
    })


def write(frame: pd.DataFrame, path: Path) -> None:
    """CSV via pyarrow (the generator must not dominate the benchmark's own time)."""
    pacsv.write_csv(pa.Table.from_pandas(frame.astype(str), preserve_index=False), path)


def generate(rows: int, workdir: Path) -> tuple[Path, Path]:
    """Night 0 (everyone) and night 1 (1% changed, 0.5% hired, 0.5% left)."""
    rng = np.random.default_rng(20261125)
    night0 = company(np.arange(1, rows + 1), rng)
    night1 = night0.copy()
    changed = rng.choice(rows, rows // 100, replace=False)
    night1.loc[changed, "Job Title"] = "Promoted " + night1.loc[changed, "Job Title"]
    leavers = rng.choice(np.arange(rows // 2, rows), rows // 200, replace=False)
    night1 = night1.drop(index=leavers)
    hires = company(np.arange(rows + 1, rows + 1 + rows // 200), rng)
    night1 = pd.concat([night1, hires], ignore_index=True)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = workdir / "big_employees_1.csv", workdir / "big_employees_2.csv"
    write(night0, paths[0])
    write(night1, paths[1])
    return paths


def settings(workdir: Path) -> Path:
    """A settings file for the benchmark's own state (thresholds opened for the 0.5% leavers)."""
    state = workdir / "state"
    path = workdir / "settings.yaml"
    path.write_text(f"""state_dir: {state}
lms:
  url: sqlite:///{state}/lms.sqlite
connections:
  big:
    import_mapping: {REPO / 'mappings' / 'acme.yaml'}
    transport: {{type: local, inbox: {workdir / 'inbox'}, pattern: "*.csv"}}
    thresholds:
      deactivate: {{percent: 10, count: 100000}}
""")
    return path


def timed(label: str, args: list[str]) -> None:
    """Run one phase in a child process; print wall seconds and the child's peak RSS."""
    # The previous phase's writes are flushed first, so the kernel writing a gigabyte of
    # dirty database pages back does not land in this phase's figures.
    os.sync()
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    code = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024  # Linux reports KiB
    print(f"{label:<28} {wall:7.2f} s   peak RSS {rss_mb:7.0f} MB   exit {code}", flush=True)
    try:
        stages = json.loads(stdout).get("timings", {})
        print(" " * 30 + "  ".join(f"{k} {v:.2f}" for k, v in stages.items()), flush=True)
    except (ValueError, AttributeError):
        pass  # the parse floor prints no report
    if code not in (0, 1):
        print(stderr, file=sys.stderr)


def main() -> None:
    """Generate, then time the three phases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "data")
    args = parser.parse_args()
    start = time.perf_counter()
    night0, night1 = generate(args.rows, args.workdir)
    print(f"generated {args.rows:,} rows ({night0.stat().st_size / 1e6:.0f} MB) "
          f"in {time.perf_counter() - start:.1f} s")
    # Byte-compile the package as `pip install` does: an editable install run with
    # PYTHONDONTWRITEBYTECODE set would otherwise recompile filebridge in every phase.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "filebridge")],
                   check=True)
    conf = settings(args.workdir)
    state = args.workdir / "state"
    if state.exists():
        import shutil
        shutil.rmtree(state)
    cli = [sys.executable, "-m", "filebridge.cli.main"]
    timed("parse floor (pyarrow read)", [sys.executable, "-c",
          f"import pyarrow.csv as c; c.read_csv({str(night1)!r})"])
    timed("initial load (empty store)", [*cli, "apply", "big", str(night0), "--settings",
                                         str(conf), "--json"])
    timed("1% night", [*cli, "apply", "big", str(night1), "--settings", str(conf), "--json"])
    timed("no-op replay of the night", [*cli, "replay", str(night1), "--yes", "--settings",
                                        str(conf), "--json"])
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(max RSS of this driver: {driver_mb:.0f} MB)")


if __name__ == "__main__":
    main()
