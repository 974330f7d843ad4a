"""Apply a file to the LMS in one transaction. A file whose content was already applied
is recorded as a duplicate and changes nothing; a run over a safety threshold is held."""

from __future__ import annotations

import argparse

from filebridge.cli.runfile import register_file_command, run_file
from filebridge.pipeline.importer import RunOptions

NAME = "apply"
HELP = "apply a file to the LMS (one transaction, held above thresholds)"
EXAMPLES = (
    'filebridge apply acme sample_files/acme_employees_2026-11-24.csv',
    'filebridge apply acme export.csv --force    # past a safety threshold, this run only',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``apply``."""
    register_file_command(parser)
    parser.add_argument("--force", action="store_true",
                        help="apply even when a safety threshold would hold the run")


def run(args: argparse.Namespace) -> int:
    """Apply the file and print what changed."""
    return run_file(args, RunOptions(mode="apply", force=args.force))
