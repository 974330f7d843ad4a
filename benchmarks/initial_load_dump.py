"""Do two checkouts of filebridge write the same store on an initial load? Each loads the
same generated file into an empty SQLite store in a fresh process; the stores' rows are
then dumped and compared line by line.

    python benchmarks/initial_load_dump.py --rows 10000 BEFORE_DIR AFTER_DIR

The run's own clock values are replaced by ``'NOW'`` and the ledger's rows about the file
and the run (paths, process ids) are left out; every other row of every table must be
byte for byte the same. Exit status 0 when they are, 1 with the first difference if not.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_million as im  # noqa: E402 - the generator and the fresh-process runner

STAMP = re.compile(r"'\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}(\+00:00)?'")
# The ledger's record of the file and the run name this run's folder and process.
SKIPPED = ('INSERT INTO "files"', 'INSERT INTO "runs"')


def rows_after_load(checkout: Path, night0: Path, folder: Path, mapping: Path) -> list[str]:
    """The store's rows, as SQL lines, after ``checkout`` loaded ``night0`` into ``folder``."""
    conf = im.settings(folder, "sqlite:///{state}/lms.sqlite", mapping)
    phase = im.run([sys.executable, "-m", "filebridge.cli.main", "apply", "big", str(night0),
                    "--settings", str(conf), "--json"],
                   env={**os.environ, "PYTHONPATH": str(checkout)})
    print(f"{checkout}: wall {phase.seconds:.2f} s", flush=True)
    with sqlite3.connect(folder / "state" / "lms.sqlite") as db:
        return [STAMP.sub("'NOW'", line) for line in db.iterdump()
                if line.startswith("INSERT") and not line.startswith(SKIPPED)]


def main() -> None:
    """Load with each checkout, compare the rows, report."""
    args = im.two_checkouts(__doc__, 10_000, None)
    workdir, checkouts = args.workdir, args.checkouts
    night0 = im.data(args.rows, workdir) / "night0.csv"
    mapping = im.REPO / "mappings" / "acme.yaml"
    os.chdir(workdir)  # `python -m` puts the working folder first on the path
    dumps = [rows_after_load(c, night0, workdir / "dump" / str(n), mapping)
             for n, c in enumerate(checkouts)]
    for k, (before, after) in enumerate(zip(*dumps, strict=False)):
        if before != after:
            print(f"row {k + 1} differs:\n- {before[:300]}\n+ {after[:300]}")
            sys.exit(1)
    if len(dumps[0]) != len(dumps[1]):
        print(f"row counts differ: {len(dumps[0])} and {len(dumps[1])}")
        sys.exit(1)
    print(f"identical: {len(dumps[0]):,} rows")


if __name__ == "__main__":
    main()
