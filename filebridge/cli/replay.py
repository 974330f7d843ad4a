"""Replay a file the ledger knows (by file id, or a path with the same content): show the
plan against the LMS as it is now, then apply it after confirmation (or with --yes).
Because filebridge reconciles state, replaying an applied file changes only what has
drifted since."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context, emit_json
from filebridge.cli.confirm import confirmed
from filebridge.cli.render import render_report, summary_line
from filebridge.pipeline.history import find_file
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.pipeline.report import RunReport

NAME = "replay"
HELP = "re-run a known file by id or path: plan first, then apply"


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
    try:
        connection, spooled, name = find_file(ctx, args.file)
        shown = []

        def confirm(report: RunReport) -> bool:
            if not args.json:
                render_report(report.to_dict())
                shown.append(True)
            nothing = not any(report.counts.get(k) for k in
                              ("create", "update", "deactivate", "reactivate"))
            return nothing or confirmed(args, "Apply this plan")

        report = run_import(ctx, connection, spooled, RunOptions(
            "apply", replay=True, force=args.force, kind="replay", name=name,
            confirm=confirm)).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
    elif not shown:
        render_report(report)
    elif report["state"] != "planned":
        print("\n" + summary_line(report))
    return int(report["exit_code"])
