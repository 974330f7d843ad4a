"""Peak resident memory at the end of each stage of one filebridge run (not a test).

    python benchmarks/stage_peaks.py apply big night1.csv --settings S.yaml --json

Runs the given ``filebridge`` command in this process, which must be a fresh one started
by a small parent (a child's peak RSS starts at its parent's resident size), and prints
to stderr one line like ``PEAKS spool=135 read=549 map=583 plan=583 apply=583`` (MB):
the process's peak so far at each stage's end, so the stage that raises a figure above
the one before it is where the run's peak memory is made.
"""

from __future__ import annotations

import resource
import sys

from filebridge.cli.main import main
from filebridge.pipeline import importer

_peaks: dict[str, int] = {}
_lap = importer._Clock.lap


def _lap_with_peak(self: importer._Clock, stage: str) -> None:
    """The run's own stage lap, then the peak RSS so far (MB) under the stage's name."""
    _lap(self, stage)
    _peaks[stage] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run(args: list[str]) -> int:
    """Run ``filebridge ARGS`` and print the stage peaks, whatever its exit code."""
    importer._Clock.lap = _lap_with_peak  # type: ignore[method-assign]
    try:
        return main(args)
    finally:
        print("PEAKS " + " ".join(f"{k}={v}" for k, v in _peaks.items()), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
