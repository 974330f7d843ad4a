"""Show one run: its file, state, holds, the plan it computed and every rejected row."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context, emit_json
from filebridge.cli.render import render_report
from filebridge.pipeline.history import run_detail

NAME = "show"
HELP = "one run: plan, holds and rejected rows"
EXAMPLES = (
    'filebridge show 42',
    "filebridge show 42 --json | jq '.report.holds'",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``show``."""
    parser.add_argument("run_id", type=int, help="run id from `filebridge history`")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print the stored report of the run."""
    ctx = context(args)
    try:
        detail = run_detail(ctx, args.run_id).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(detail)
    else:
        print(f"run {detail['run_id']} ({detail['kind']}, {detail['mode']}) started "
              f"{detail['started_at']} finished {detail['finished_at']}: {detail['state']}")
        if detail.get("report"):
            render_report(detail["report"])
    return 0
