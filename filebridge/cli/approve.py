"""Approve a held run: re-plan its file against the LMS as it is now, show the plan, and
apply it past the safety brakes (for this run only). The held run becomes "approved";
the new run (kind approve) names it. Exit 1 if rows were rejected. If a newer file was
applied while the run was held (by export time, or by order when the files carry none),
the approval stops, says which file, and the run stays held (exit 1) unless --stale-ok."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context
from filebridge.cli.confirm import PlanPrompt
from filebridge.pipeline.lifecycle import approve

NAME = "approve"
HELP = "re-plan a held run against the LMS now, show it, and apply it"
EXAMPLES = (
    'filebridge approve 42',
    'filebridge approve 42 --yes --json',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``approve``."""
    parser.add_argument("run_id", type=int, help="the held run (see `filebridge history`)")
    parser.add_argument("--yes", action="store_true", help="apply without asking")
    parser.add_argument("--stale-ok", action="store_true",
                        help="apply even though a newer file was applied since the run was "
                             "held (older data over newer)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Re-plan, confirm, apply."""
    ctx = context(args)
    prompt = PlanPrompt(args, f"Apply this plan and approve run {args.run_id}")
    try:
        report = approve(ctx, args.run_id, prompt, stale_ok=args.stale_ok).to_dict()
    finally:
        ctx.close()
    return prompt.finish(report)
