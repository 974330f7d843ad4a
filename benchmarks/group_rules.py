"""Benchmark: what twenty group rules add to a million-person night.

    python benchmarks/group_rules.py --files DIR [--store LMS.sqlite] [--rounds 5]

DIR holds the two files of ``benchmarks/import_million.py`` (big_employees_1.csv, the
million people, and big_employees_2.csv, the night with 1% changes, 0.5% hires and 0.5%
leavers); ``--store`` is a store with night 1 applied (copied, never changed), else
night 1 is applied first. The script loads the rules' memberships once (night 1 with the
rules), then times ``filebridge plan`` of the night with and without the rules,
interleaved, each in its own process, and prints the medians and their ratio (a loaded
machine shifts both alike; the ratio is the figure to read). It prints the processes'
CPU seconds (user + system) too: on a machine with more runnable work than cores, wall
time mostly measures waiting for a core, while CPU time still measures the work.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEAMS = ("Engineering", "Sales", "Finance", "Operations")
RULES = "\n".join([
    "groups:",
    *(f"  - name: {d} {c}\n    when: {{all: [{{field: department, is: {d}}}, "
      f"{{field: country, is: {c}}}]}}" for d in TEAMS[:3] for c in ("DE", "FR", "GB", "ES")),
    "  - name: Contractors\n    when: {field: employee_type, is: contractor}",
    "  - name: Staff\n    when: {not: {field: employee_type, is: contractor}}",
    "  - name: Engineers DACH or FR\n    when: {all: [{field: job_title, in: [Engineer, "
    "Senior Engineer]}, {any: [{field: country, is: DE}, {field: country, is: FR}]}]}",
    "  - group_from: department\n    name: \"Department {value}\"",
    "  - group_from: country\n    name: \"Country {value}\"",
    "  - name: Under 00000002\n    reports_to: \"00000002\"",
    "  - name: Under 00000015\n    reports_to: \"00000015\"",
])  # 12 + 3 + 2 + 2 + 1 = 20 rules


def workspace(work: Path, store: Path | None, rules: bool) -> Path:
    """Settings and mapping for one variant; both variants share one state folder."""
    mapping = (REPO / "mappings" / "acme.yaml").read_text(encoding="utf-8")
    name = "rules" if rules else "plain"
    (work / f"{name}.yaml").write_text(mapping + ("\n" + RULES + "\n" if rules else ""),
                                       encoding="utf-8")
    state = work / "state"
    if store is not None and not (state / "lms.sqlite").exists():
        state.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store, state / "lms.sqlite")
    settings = work / f"{name}-settings.yaml"
    settings.write_text(f"""state_dir: {state}
lms:
  url: sqlite:///{state}/lms.sqlite
connections:
  big:
    import_mapping: {work / f'{name}.yaml'}
    transport: {{type: local, inbox: {work / 'inbox'}, pattern: "*.csv"}}
    thresholds:
      deactivate: {{percent: 10, count: 100000}}
""", encoding="utf-8")
    return settings


def run(args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one ``filebridge`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "filebridge.cli.main", *args],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        sys.exit(f"{args}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    """Load the memberships once, then time the night with and without rules."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, required=True)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="filebridge-groups-"))
    work.mkdir(parents=True, exist_ok=True)
    plain = workspace(work, args.store, rules=False)
    ruled = workspace(work, args.store, rules=True)
    night0, night1 = args.files / "big_employees_1.csv", args.files / "big_employees_2.csv"
    if args.store is None:
        loaded, _ = run(["apply", "big", str(night0), "--settings", str(plain)])
        print(f"initial load {loaded:.1f} s")
    # A replay: night 1's content is applied already, only the rules' memberships are new.
    seconds, _ = run(["replay", str(night0), "--yes", "--force", "--settings", str(ruled)])
    print(f"memberships of 20 rules loaded in {seconds:.1f} s", flush=True)
    timings: dict[str, list[tuple[float, float]]] = {"without rules": [], "with 20 rules": []}
    night = ["plan", "big", str(night1), "--json"]
    for i in range(args.rounds + 1):  # the first round warms the caches and is not counted
        for label, settings in (("without rules", plain), ("with 20 rules", ruled)):
            wall, cpu = run([*night, "--settings", str(settings)])
            if i:
                timings[label].append((wall, cpu))
            print(f"round {i} {label:<14} {wall:6.2f} s wall {cpu:6.2f} s cpu", flush=True)
    medians = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in timings.items()}
    for label, (wall, cpu) in medians.items():
        print(f"median {label:<14} {wall:6.2f} s wall {cpu:6.2f} s cpu")
    ratio = medians["with 20 rules"][0] / medians["without rules"][0]
    cpu_ratio = medians["with 20 rules"][1] / medians["without rules"][1]
    print(f"RESULT ratio with/without rules: {ratio:.3f} wall, {cpu_ratio:.3f} cpu")


if __name__ == "__main__":
    main()
