"""What ``validate``, ``plan`` and ``apply`` share: run one file, print the report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from filebridge.cli.common import add_common, context, emit_json, require_file
from filebridge.cli.progress import LiveProgress
from filebridge.cli.render import render_report
from filebridge.pipeline.context import Context
from filebridge.pipeline.importer import RunOptions, run_import


def register_file_command(parser: argparse.ArgumentParser) -> None:
    """CONNECTION FILE plus the shared options."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("file", type=Path, help="the HR export file (CSV or XML)")
    add_common(parser)


def run_file(args: argparse.Namespace, options: RunOptions,
             before: Callable[[Context, str], None] | None = None) -> int:
    """Run one file and print the report (text or --json); return its exit code.
    ``before`` prepares the context first (``plan --verify`` lists the LMS)."""
    require_file(args.file)
    ctx = context(args)
    try:
        if before is not None:
            before(ctx, args.connection)
        with LiveProgress() as live:
            report = run_import(ctx, args.connection, args.file, options,
                                None if args.json else live).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
    else:
        render_report(report)
    return int(report["exit_code"])
