"""Show what a file would change in the LMS (create, update field by field, deactivate,
reactivate) without changing anything. Exit 1 when rows are rejected or the run would be held."""

from __future__ import annotations

import argparse

from filebridge.cli.runfile import register_file_command, run_file
from filebridge.pipeline.importer import RunOptions

NAME = "plan"
HELP = "preview what a file would change, changing nothing"
EXAMPLES = (
    'filebridge plan acme sample_files/acme_employees_2026-11-25.csv',
    'filebridge plan acme export.csv --json | jq .counts',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``plan``."""
    register_file_command(parser)
    parser.add_argument("--verify", action="store_true",
                        help="plan against the LMS as listed now, not filebridge's mirror "
                             "of it (an external LMS: SCIM, Moodle)")


def run(args: argparse.Namespace) -> int:
    """Plan the file and print the plan."""
    if args.verify:
        from filebridge.pipeline.drift import plan_against_lms
        return run_file(args, RunOptions(mode="plan"), before=plan_against_lms)
    return run_file(args, RunOptions(mode="plan"))
