"""Compare an external LMS with what filebridge last confirmed there, and report drift
made by hand: accounts deleted, suspended or unsuspended, idnumbers or mapped fields
changed. Nothing in the LMS is changed; ``--repair`` makes the next run send the drifted
people again. A connection on the built-in store has nothing to compare."""

from __future__ import annotations

import argparse
from typing import Any

from filebridge.cli.common import add_common, context, emit_json, table

NAME = "verify"
HELP = "report changes made by hand in an external LMS (Moodle) since the last run"


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``verify``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("--repair", action="store_true",
                        help="make the next run send the drifted people again")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """List the drift; exit 1 when there is some."""
    ctx = context(args)
    try:
        ctx.connection(args.connection)
        target: Any = ctx.target(args.connection)
        checker = getattr(target, "verify", None)
        drift = [] if checker is None else checker(args.connection, fix=args.repair)
        location = target.location
    finally:
        ctx.close()
    rows = [d.to_dict() for d in drift]
    if args.json:
        emit_json({"connection": args.connection, "lms": location,
                   "compared": checker is not None, "drift": rows,
                   "repaired": bool(args.repair and rows)})
    elif checker is None:
        print(f"{args.connection} feeds the built-in store: nothing to compare")
    elif not rows:
        print(f"{args.connection}: {location} agrees with the last confirmed state")
    else:
        table([[r["employee_id"], r["lms_id"], r["kind"], r["field"], r["expected"],
                r["found"]] for r in rows[:500]],
              ["employee_id", "lms id", "drift", "field", "expected", "found"])
        print(f"\n{len(rows)} difference(s)"
              + ("; the next run sends these people again" if args.repair else
                 "; `filebridge verify --repair` makes the next run send them again"))
    return 1 if rows else 0
