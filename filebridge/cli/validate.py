"""Check a file against its connection's mapping: every rejected row with line, column
and reason. Changes nothing; exit 0 when all rows are good, 1 when some are rejected,
2 when the file is unusable."""

from __future__ import annotations

import argparse
from pathlib import Path

from filebridge.cli.common import add_common, context, emit_json, require_file
from filebridge.cli.render import render_problems
from filebridge.pipeline.validation import validate_path

NAME = "validate"
HELP = "check a file against the mapping; list rejected rows"
EXAMPLES = (
    'filebridge validate acme sample_files/acme_employees_2026-11-24.csv',
    "filebridge validate acme export.csv --json | jq '.problems[] | .line'",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``validate``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("file", type=Path, help="the HR export file (CSV or XML)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Validate and print the problems."""
    require_file(args.file)
    ctx = context(args)
    try:
        result = validate_path(ctx, args.connection, args.file).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(result)
    else:
        render_problems(result)
        print(f"{result['file']}: {result['rows']} rows, {result['rejected_rows']} rejected"
              + (" — file unusable" if not result["valid"] and result["exit_code"] == 2 else ""))
    return int(result["exit_code"])
