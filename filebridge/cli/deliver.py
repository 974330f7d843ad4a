"""Upload one local file to a connection's outbox by hand. It is written under a
temporary name and renamed when complete, so the other side never sees half a file;
a file of the same name already there is never overwritten (exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from filebridge.cli.common import add_common, context, emit_json, require_file
from filebridge.pipeline.delivery import deliver_file

NAME = "deliver"
HELP = "upload a file to a connection's outbox (atomic, never overwrites)"
EXAMPLES = (
    'filebridge deliver acme completions_2026-11-25.csv',
    'filebridge deliver acme report.csv --done-marker',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``deliver``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("file", type=Path, help="the local file to upload")
    parser.add_argument("--done-marker", action="store_true",
                        help="also create the connection's done marker after the upload")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Deliver the file and say where it went."""
    require_file(args.file)
    ctx = context(args)
    try:
        delivery = deliver_file(ctx, args.connection, args.file,
                                done_marker=args.done_marker).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(delivery)
    else:
        print(f"delivered {delivery['file']} ({delivery['size']} bytes, sha256 "
              f"{delivery['sha256'][:12]}…) to {delivery['delivered_to']}")
    return 0
