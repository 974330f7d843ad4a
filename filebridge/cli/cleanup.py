"""Remove what a connection keeps longer than its retention: archived and rejected input
files, spool copies, reject CSVs, change lists and logs of runs, the details of old run
reports in the ledger and the store's journal of old changes. --dry-run lists the same
without removing anything."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from filebridge.cli.common import add_common, context, emit_json

NAME = "cleanup"
HELP = "remove personal data older than each connection's retention (--dry-run: list it)"
SHOWN = 50

EXAMPLES = (
    "filebridge cleanup --dry-run",
    "filebridge cleanup acme",
    "filebridge cleanup acme --dry-run --json",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``cleanup``."""
    parser.add_argument("connection", nargs="?",
                        help="connection name from settings.yaml (default: every connection)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be removed; remove nothing")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Clean up one connection or all of them and say what went."""
    from filebridge.pipeline.retention import cleanup

    ctx = context(args)
    try:
        names = [args.connection] if args.connection else sorted(ctx.settings.connections)
        for name in names:
            ctx.connection(name)
        now = datetime.now(UTC)
        reports = [cleanup(ctx, name, now, args.dry_run).to_dict() for name in names]
    finally:
        ctx.close()
    if args.json:
        emit_json({"dry_run": args.dry_run, "connections": reports})
    else:
        for report in reports:
            render(report)
    return 0


def render(report: dict[str, Any]) -> None:
    """Human form: the periods, every file, then the ledger and journal counts."""
    verb = "would remove" if report["dry_run"] else "removed"
    keep = report["retention"]
    print(f"{report['connection']}: keeps input files {keep['archive_days']} days, rejected "
          f"files {keep['rejected_days']} days, run details {keep['reports_days']} days")
    for item in report["files"][:SHOWN]:
        print(f"  {verb} {item['kind']}: {item['path']}")
    if len(report["files"]) > SHOWN:
        print(f"  … and {len(report['files']) - SHOWN} more files (--json lists all)")
    runs = report["run_details"]
    if runs:
        shown = ", ".join(str(r) for r in runs[:SHOWN]) + (" …" if len(runs) > SHOWN else "")
        print(f"  {verb} the plan, problems and warnings of {len(runs)} run report(s) in "
              f"the ledger (hashes, counts and dates stay): {shown}")
    for key, words in (("journal_rows", "journal row(s) of old changes in the LMS store"),
                       ("task_runs", "daemon task record(s)"),
                       ("alerts", "cleared alert(s)")):
        if report[key]:
            print(f"  {verb} {report[key]} {words}")
    if not any(report["counts"].values()):
        print("  nothing older than the retention")
