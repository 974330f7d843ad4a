"""Work with the built-in LMS store directly (sub-commands).

``lms load-completions FILE`` records course results and assignments from a CSV file
with the columns employee_id, course_code, status (completed, passed, failed, or
assigned), and optionally course_title, completed_at, score, time_spent_minutes,
attempt, due_date. Loading the same file twice changes nothing; a changed score or
date is recorded as a correction, which the next export sends as an amendment."""

from __future__ import annotations

import argparse
from pathlib import Path

from filebridge.cli.common import add_common, context, emit_json
from filebridge.cli.render import render_problems
from filebridge.pipeline.completions_load import load_completions

NAME = "lms"
HELP = "the built-in LMS store: load completions"
EXAMPLES = (
    'filebridge lms load-completions completions.csv',
    'filebridge lms load-completions completions.csv --connection acme --json',
)


def register(parser: argparse.ArgumentParser) -> None:
    """The ``lms`` sub-commands."""
    sub = parser.add_subparsers(dest="lms_command", metavar="SUBCOMMAND", required=True)
    load = sub.add_parser("load-completions", help="record course results from a CSV file",
                          description=__doc__)
    load.add_argument("file", type=Path, help="the CSV file")
    load.add_argument("--connection", help="look people up only in this connection "
                      "(needed when an employee id exists in several)")
    add_common(load)


def run(args: argparse.Namespace) -> int:
    """Run the chosen sub-command."""
    ctx = context(args)
    try:
        report = load_completions(ctx, args.file, connection=args.connection).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
        return int(report["exit_code"])
    render_problems(report)
    c = report["counts"]
    print(f"{report['file']}: {report['rows']} rows — {c.get('inserted', 0)} new, "
          f"{c.get('corrected', 0)} corrected, {c.get('unchanged', 0)} unchanged, "
          f"{c.get('assigned', 0)} assigned, {report['rejected_rows']} rejected "
          f"(store: {report['state_location']})")
    return int(report["exit_code"])
