"""Pick up every finished file of a connection now and import it, oldest first (the
"resync now" button). Each file is claimed into processing/, downloaded and verified,
applied, then moved to archive/YYYY/MM/DD/ (applied, duplicate or held) or to rejected/
with NAME.error.txt (unusable). A file left in processing/ by a crash is taken up first."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from filebridge.cli.common import add_common, context, emit_json
from filebridge.cli.progress import LiveProgress
from filebridge.daemon.manual import manual_sync

NAME = "sync"
HELP = "pick up and import every finished file of a connection now"
EXAMPLES = (
    'filebridge sync acme',
    'filebridge sync acme --wait 0 --json',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``sync``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                        help="watch the inbox this long for files to become stable "
                             "(default: the connection's ready.stable_seconds + 1; 0 takes "
                             "only files already seen as finished)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Sync the connection and print what happened to each file."""
    ctx = context(args)
    try:
        with LiveProgress() as live:
            report = manual_sync(ctx, args.connection, progress=None if args.json else live,
                                 wait_seconds=args.wait).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
    else:
        render_sync(report)
    return int(report["exit_code"])


def _file_line(f: dict[str, Any]) -> str:
    c = f["counts"]
    head = f"{f['name']}: {f['state']}"
    if f["run_id"] is not None:
        head += f" (run {f['run_id']})"
    if f["state"] == "applied":
        head += (f": created {c.get('create', 0)}, updated {c.get('update', 0)}, "
                 f"deactivated {c.get('deactivate', 0)}, reactivated {c.get('reactivate', 0)}"
                 f", rejected rows {f['rejected_rows']}")
    return head + (" [taken up again after an interrupted run]" if f["recovered"] else "")


def render_sync(report: dict[str, Any], out: TextIO | None = None) -> None:
    """One line per file, where it went, next steps, then refused names and errors."""
    out = out or sys.stdout
    conn = report["connection"]
    for f in report["files"]:
        out.write(_file_line(f) + "\n")
        if f["archived_to"]:
            out.write(f"  archived to {f['archived_to']}\n")
        if f["rejected_to"]:
            out.write(f"  moved to {f['rejected_to']} (reason in .error.txt beside it):\n"
                      f"  {f['reason']}\n")
        if f["state"] == "held":
            out.write(f"  held: nothing applied; see `filebridge show {f['run_id']}`, apply "
                      f"with `filebridge replay {f['file_id']} --force`\n")
        elif f["rejected_rows"] and f["run_id"] is not None:
            out.write(f"  rejected rows: `filebridge show {f['run_id']}`\n")
    for s in report["skipped"]:
        out.write(f"skipped {s['name']}: {s['reason']} (never read)\n")
    for e in report["errors"]:
        retry = "; it stays in processing/ and is taken up by the next sync" \
            if e["retry"] else "; fix this, then run `filebridge sync " + conn + "` again"
        out.write(f"error: {e['file']}: {e['message']}{retry}\n")
    if not report["files"] and not report["errors"]:
        out.write(f"{conn}: no finished file in the inbox\n")
