"""Adopt existing LMS users into a connection: users not managed by any connection whose
work email (or employee id) matches a person in the file are listed first, then, after
confirmation, managed by the connection under the file's employee id. Only managed
people are ever changed by imports; the next import brings their fields in line."""

from __future__ import annotations

import argparse
from pathlib import Path

from filebridge.cli.common import add_common, context, emit_json, require_file, table
from filebridge.cli.confirm import EXIT_NOT_CONFIRMED, confirmed
from filebridge.pipeline.lifecycle import link
from filebridge.pipeline.report import Adoptions, RunReport

NAME = "link"
HELP = "adopt existing LMS users into a connection by email or employee id"
EXAMPLES = (
    'filebridge link acme export.csv',
    'filebridge link acme export.csv --by employee_id --yes',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``link``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("file", type=Path, help="an HR export file of the connection")
    parser.add_argument("--by", choices=["email", "employee_id"], default="email",
                        help="match LMS users on work email (default) or employee id")
    parser.add_argument("--yes", action="store_true", help="adopt without asking")
    add_common(parser)


def _show(report: RunReport) -> None:
    rows = report.plan.adoptions if isinstance(report.plan, Adoptions) else ()
    print(f"LMS users matching {report.file} ({len(rows)}):")
    table([[r.lms_employee_id, r.email, r.employee_id, r.line, r.note or "adopt"]
           for r in rows[:200]], ["lms employee_id", "email", "file employee_id", "line",
                                  "action"])


def run(args: argparse.Namespace) -> int:
    """List the matches, confirm, adopt."""
    require_file(args.file)
    ctx = context(args)
    shown: list[bool] = []
    declined: list[bool] = []

    def confirm(report: RunReport) -> bool:
        if not args.json:
            _show(report)
            shown.append(True)
        if confirmed(args, f"Adopt {report.counts['adopt']} users into {args.connection}"):
            return True
        declined.append(True)
        return False

    try:
        report = link(ctx, args.connection, args.file, args.by, confirm)
    finally:
        ctx.close()
    if args.json:
        emit_json(report.to_dict())
    else:
        if not shown:
            _show(report)
        print(f"\nrun {report.run_id}: {report.state}, adopted "
              f"{report.counts.get('adopt', 0) if report.state == 'applied' else 0}")
    return EXIT_NOT_CONFIRMED if declined else 0
