"""Show one run: its file, state, holds, the plan it computed and every rejected row; or
its change list as CSV (``--changes-csv``) or its log lines as JSON Lines (``--log``)."""

from __future__ import annotations

import argparse
import sys

from filebridge.cli.common import add_common, context, emit_json
from filebridge.cli.render import render_report, stopped_while_applying
from filebridge.pipeline.changelog import run_file
from filebridge.pipeline.history import run_detail

NAME = "show"
HELP = "one run: plan, holds and rejected rows; its change list or log"
EXAMPLES = (
    'filebridge show 42',
    "filebridge show 42 --json | jq '.report.holds'",
    "filebridge show 42 --changes-csv > run-42-changes.csv",
    "filebridge show 42 --log | jq -r .message",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``show``."""
    parser.add_argument("run_id", type=int, help="run id from `filebridge history`")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--changes-csv", action="store_true",
                       help="print the run's change list as CSV (employee_id, action, field, "
                       "old, new, line): what it changed, or would change when not applied")
    which.add_argument("--log", action="store_true",
                       help="print the run's log lines as JSON Lines")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print the stored report of the run."""
    ctx = context(args)
    try:
        if args.changes_csv or args.log:
            path = run_file(ctx, args.run_id, "changes" if args.changes_csv else "log")
            sys.stdout.write(path.read_text(encoding="utf-8"))
            return 0
        detail = run_detail(ctx, args.run_id).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(detail)
    else:
        print(f"run {detail['run_id']} ({detail['kind']}, {detail['mode']}) started "
              f"{detail['started_at']} finished {detail['finished_at']}: {detail['state']}")
        if detail["managed_when_applying"] is not None:
            print(stopped_while_applying(detail))
        if detail.get("error"):
            error = detail["error"]
            print(f"error: {error.get('code', '?')}"
                  + (f": {error['message']}" if error.get("message") else ""))
        if detail.get("report"):
            render_report(detail["report"])
    return 0
