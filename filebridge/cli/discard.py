"""Discard a held run: nothing of it is ever applied. The run becomes "discarded" and a
discard run records when; the file stays in the spool (replay it later if needed)."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context, emit_json
from filebridge.pipeline.lifecycle import discard

NAME = "discard"
HELP = "drop a held run without applying it"
EXAMPLES = (
    'filebridge discard 42',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``discard``."""
    parser.add_argument("run_id", type=int, help="the held run (see `filebridge history`)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Mark the held run discarded."""
    ctx = context(args)
    try:
        report = discard(ctx, args.run_id).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
    else:
        print(f"run {args.run_id} discarded (recorded as run {report['run_id']}); nothing "
              "was applied")
    return 0
