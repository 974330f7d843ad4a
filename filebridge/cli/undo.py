"""Undo one applied run: put back the previous values of exactly the people and fields it
changed. A person it created is deactivated (their learning history stays); deletes
cannot be undone. Anything a later run changed, or someone changed by hand since, is
left alone and listed with the reason (exit 1). The undo is itself a run you can undo.
It goes through the connection's safety brakes like an import: above them it is held
(exit 1) for `filebridge approve RUN_ID`, unless --force."""

from __future__ import annotations

import argparse
from typing import Any

from filebridge.cli.common import add_common, context
from filebridge.cli.confirm import PlanPrompt
from filebridge.cli.render import render_refused, render_report
from filebridge.pipeline.lifecycle import undo

NAME = "undo"
HELP = "restore what one run changed, where no later run changed it"
EXAMPLES = (
    'filebridge undo 42',
    'filebridge undo 42 --yes',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``undo``."""
    parser.add_argument("run_id", type=int, help="the applied run to undo (see `history`)")
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument("--force", action="store_true",
                        help="apply even above the safety brakes (this undo only)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Plan the undo, confirm, apply."""
    ctx = context(args)
    prompt = PlanPrompt(args, f"Undo run {args.run_id}", _render)
    try:
        report = undo(ctx, args.run_id, prompt, force=args.force).to_dict()
    finally:
        ctx.close()
    return prompt.finish(report)


def _render(report: dict[str, Any]) -> None:
    """The plan of the undo and what it refuses to restore."""
    render_report(report)
    render_refused(report)
