"""Replay a file the ledger knows (by file id, or a path with the same content): show the
plan against the LMS as it is now, then apply it after confirmation (or with --yes).
Because filebridge reconciles state, replaying an applied file changes only what has
drifted since."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context
from filebridge.cli.confirm import PlanPrompt
from filebridge.pipeline.history import find_file
from filebridge.pipeline.importer import RunOptions, run_import

NAME = "replay"
HELP = "re-run a known file by id or path: plan first, then apply"
EXAMPLES = (
    'filebridge replay 12            # file id from `filebridge history`',
    'filebridge replay archive/acme_employees_2026-11-24.csv --yes',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``replay``."""
    parser.add_argument("file", help="file id (see `filebridge history`) or a file path")
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument("--force", action="store_true",
                        help="apply even when a safety threshold would hold the run")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Plan, confirm, apply."""
    ctx = context(args)
    prompt = PlanPrompt(args, "Apply this plan", skip_empty=True)
    try:
        connection, spooled, name = find_file(ctx, args.file)
        report = run_import(ctx, connection, spooled, RunOptions(
            "apply", replay=True, force=args.force, kind="replay", name=name,
            confirm=prompt)).to_dict()
    finally:
        ctx.close()
    return prompt.finish(report)
