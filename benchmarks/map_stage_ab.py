"""Interleaved A/B of the map stage (mapping plus whole-file validation) of a night:
two checkouts of filebridge, the same generated files, each run a fresh small process.

    python benchmarks/map_stage_ab.py --rows 200000 --rounds 5 BEFORE_DIR AFTER_DIR

Each checkout first loads the first generated file and applies the night into its own
SQLite store; every round then replays the night (a no-op that still reads, maps,
validates and plans the whole file) once per checkout, in the order given, with
``PYTHONPATH`` pointing at that checkout. It prints the run's own stage seconds per run
and, at the end, the medians and the per-round map ratio AFTER/BEFORE (a ratio taken
within a round moves with the machine's load on both sides).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_million as im  # noqa: E402 - the generator and the fresh-process runner

STAGES = ("read", "map", "plan", "total")


def cli(checkout: Path, conf: Path, *args: str) -> dict[str, float]:
    """One ``filebridge`` command by ``checkout``; the run's stage seconds plus its wall."""
    phase = im.run([sys.executable, "-m", "filebridge.cli.main", *args, "--settings",
                    str(conf), "--json"], env={**os.environ, "PYTHONPATH": str(checkout)})
    timings = json.loads(phase.stdout)["timings"]
    return {"read": timings["read"], "map": timings["map"], "plan": timings["plan"],
            "total": phase.seconds}


def main() -> None:
    """Generate once, prepare each checkout's store, run the rounds, print the medians."""
    args = im.two_checkouts(__doc__, 200_000, 5)
    folder = im.data(args.rows, args.workdir)
    night0, night1 = folder / "night0.csv", folder / "night1.csv"
    mapping = im.REPO / "mappings" / "acme.yaml"
    # `python -m` puts the working folder first on the path: stand in neither checkout.
    os.chdir(args.workdir)
    confs = {}
    for n, checkout in enumerate(args.checkouts):
        confs[checkout] = im.settings(args.workdir / "mapab" / str(n),
                                      "sqlite:///{state}/lms.sqlite", mapping)
        for night in (night0, night1):
            cli(checkout, confs[checkout], "apply", "big", str(night))
    results: dict[Path, list[dict[str, float]]] = {c: [] for c in args.checkouts}
    for k in range(args.rounds):
        for checkout in args.checkouts:
            got = cli(checkout, confs[checkout], "replay", "--yes", str(night1))
            results[checkout].append(got)
            print(f"round {k + 1} {checkout}: "
                  + "  ".join(f"{s} {got[s]:.3f} s" for s in STAGES)
                  + f"  load {im.loadavg()}", flush=True)
    for checkout, runs in results.items():
        print(f"median {checkout}: " + "  ".join(
            f"{s} {statistics.median(r[s] for r in runs):.3f} s" for s in STAGES))
    first, second = (results[c] for c in args.checkouts)
    ratios = [b["map"] / a["map"] for a, b in zip(first, second, strict=True)]
    print(f"map after/before per round {[round(r, 2) for r in ratios]}, "
          f"median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
