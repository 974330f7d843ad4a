"""Interleaved A/B of the initial load into an empty SQLite store: two checkouts of
filebridge, the same generated file, each run a fresh small process (not a test).

    python benchmarks/initial_load_ab.py --rows 200000 --rounds 3 BEFORE_DIR AFTER_DIR

Each round runs `filebridge apply` of the first generated file once per checkout, in the
order given, with ``PYTHONPATH`` pointing at that checkout. Per run it prints the wall
seconds, the run's own apply-stage seconds, the process's CPU seconds and peak RSS; at
the end the medians and the per-round apply ratio AFTER/BEFORE (a ratio taken within a
round moves with the machine's load on both sides).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_million as im  # noqa: E402 - the generator and the fresh-process runner


def load(checkout: Path, night0: Path, folder: Path, mapping: Path) -> tuple[float, ...]:
    """One initial load by ``checkout``: (wall s, apply-stage s, CPU s, peak RSS MB)."""
    conf = im.settings(folder, "sqlite:///{state}/lms.sqlite", mapping)
    before = os.times()
    phase = im.run([sys.executable, "-m", "filebridge.cli.main", "apply", "big", str(night0),
                    "--settings", str(conf), "--json"],
                   env={**os.environ, "PYTHONPATH": str(checkout)})
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    report = json.loads(phase.stdout)
    return phase.seconds, float(report["timings"]["apply"]), cpu, phase.rss_mb


def main() -> None:
    """Generate once, run the rounds, print the medians and the ratios."""
    args = im.two_checkouts(__doc__, 200_000, 3)
    night0 = im.data(args.rows, args.workdir) / "night0.csv"
    mapping = im.REPO / "mappings" / "acme.yaml"
    # `python -m` puts the working folder first on the path: stand in neither checkout.
    os.chdir(args.workdir)
    results: dict[Path, list[tuple[float, ...]]] = {c: [] for c in args.checkouts}
    for k in range(args.rounds):
        for n, checkout in enumerate(args.checkouts):
            got = load(checkout, night0, args.workdir / "ab" / str(n), mapping)
            results[checkout].append(got)
            print(f"round {k + 1} {checkout}: wall {got[0]:.2f} s  apply {got[1]:.2f} s  "
                  f"cpu {got[2]:.2f} s  peak RSS {got[3]:.0f} MB  load {im.loadavg()}",
                  flush=True)
    for checkout, runs in results.items():
        print(f"median {checkout}: wall {statistics.median(r[0] for r in runs):.2f} s  "
              f"apply {statistics.median(r[1] for r in runs):.2f} s  "
              f"cpu {statistics.median(r[2] for r in runs):.2f} s  "
              f"peak RSS {max(r[3] for r in runs):.0f} MB")
    first, second = (results[c] for c in args.checkouts)
    ratios = [b[1] / a[1] for a, b in zip(first, second, strict=True)]
    print(f"apply after/before per round {[round(r, 2) for r in ratios]}, "
          f"median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
