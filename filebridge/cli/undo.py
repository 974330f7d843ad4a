"""Undo one applied run: put back the previous values of exactly the people and fields it
changed. A person it created is deactivated (their learning history stays); deletes
cannot be undone. Anything a later run changed, or someone changed by hand since, is
left alone and listed with the reason (exit 1). The undo is itself a run you can undo."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context, emit_json
from filebridge.cli.confirm import confirmed
from filebridge.cli.render import render_refused, render_report, summary_line
from filebridge.pipeline.lifecycle import undo
from filebridge.pipeline.report import RunReport

NAME = "undo"
HELP = "restore what one run changed, where no later run changed it"


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``undo``."""
    parser.add_argument("run_id", type=int, help="the applied run to undo (see `history`)")
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Plan the undo, confirm, apply."""
    ctx = context(args)
    shown: list[bool] = []

    def confirm(report: RunReport) -> bool:
        if not args.json:
            data = report.to_dict()
            render_report(data)
            render_refused(data)
            shown.append(True)
        return confirmed(args, f"Undo run {args.run_id}")

    try:
        report = undo(ctx, args.run_id, confirm).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
    elif not shown:
        render_report(report)
        render_refused(report)
    else:
        print("\n" + summary_line(report))
    return int(report["exit_code"])
