"""Benchmark: what per-person row events and name search keys cost an import, before/after.

    python benchmarks/row_events_cost.py --before DIR [--after DIR] [--rows 100000]
                                         [--rounds 3] [--workdir DIR]

Each DIR holds the package of one side, e.g.
``mkdir DIR && git archive COMMIT filebridge | tar -x -C DIR``; ``--after`` defaults to
this checkout. The data are
``import_million.py``'s night 0 (everyone) and night 1 (1% changed, 0.5% hired, 0.5%
left), with 1% of night 1's rows given an invalid work e-mail (rejected rows, so the run
writes row events). Each round runs both sides, in alternating order, each into a fresh
SQLite store: ``filebridge apply`` of night 0 (the initial load, which writes everyone's
search keys) and of night 1 (a normal night with rejects), each a fresh process. Ratios
after/before are taken within a round; their medians are printed, with the command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.import_million import Phase, data, loadavg, run, settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Runs the CLI from the package in argv[1], whatever package the interpreter has installed
# (an editable install's finder would otherwise win over sys.path).
BOOT = ("import runpy, sys; root = sys.argv.pop(1); "
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
        "getattr(f, '__module__', '').lower() and 'editable' not in "
        "getattr(f, '__name__', '').lower()]; "
        "sys.path.insert(0, root); sys.argv[0] = 'filebridge'; "
        "runpy.run_module('filebridge.cli.main', run_name='__main__')")


def with_rejects(night1: Path, target: Path) -> None:
    """``night1`` with an invalid work e-mail on every 100th row (run in a child)."""
    import pandas as pd

    frame = pd.read_csv(night1, dtype=str, keep_default_na=False)
    frame.loc[frame.index % 100 == 50, "Work Email"] = "not an address"
    frame.to_csv(target, index=False)


def apply_stage(phase: Phase) -> float:
    """The run's own time from its plan to its commit (row events built and written, the
    store's changes and keys, the ledger's mark), from its JSON report."""
    return float(json.loads(phase.stdout)["timings"]["apply"])


def apply(package: Path, conf: Path, path: Path) -> Phase:
    """``filebridge apply big PATH`` with the package at ``package``."""
    return run([sys.executable, "-c", BOOT, str(package), "apply", "big", str(path),
                "--settings", str(conf), "--json"])


def main() -> None:
    """Generate once, then alternate the two sides round by round."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=REPO)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) /
                        "filebridge-row-events")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "rejects":
        with_rejects(*args.paths)
        return
    folder = data(args.rows, args.workdir)
    night0, night1 = folder / "night0.csv", folder / "night1-rejects.csv"
    if not night1.exists():
        subprocess.run([sys.executable, __file__, "--before", str(args.before), "--phase",
                        "rejects", str(folder / "night1.csv"), str(night1)], check=True)
    mapping = REPO / "mappings" / "acme.yaml"
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    names = ("initial", "night", "initial apply stage", "night apply stage")
    seconds: dict[str, list[float]] = {f"{s} {n}": [] for s in sides for n in names}
    for k in range(args.rounds):
        order = list(sides) if k % 2 == 0 else list(reversed(sides))
        print(f"round {k + 1}/{args.rounds} (load average {loadavg()})", flush=True)
        for side in order:
            conf = settings(args.workdir / "runs" / side, "sqlite:///{state}/lms.sqlite",
                            mapping)
            for name, path in (("initial", night0), ("night", night1)):
                phase = apply(sides[side], conf, path)
                seconds[f"{side} {name}"].append(phase.seconds)
                seconds[f"{side} {name} apply stage"].append(apply_stage(phase))
                print(f"  {side:6} {name:7} {phase.seconds:7.2f} s (apply stage "
                      f"{apply_stage(phase):.2f} s)  exit {phase.code}", flush=True)
    for name in names:
        before, after = seconds[f"before {name}"], seconds[f"after {name}"]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        print(f"{name}: before median {statistics.median(before):.2f} s, after "
              f"{statistics.median(after):.2f} s, after/before per round "
              f"{', '.join(f'{r:.3f}' for r in ratios)}, median {statistics.median(ratios):.3f}")
    print(f"load average at the end {loadavg()}")


if __name__ == "__main__":
    main()
