"""List the runs (newest first) with their file, state and counts, for one connection or all."""

from __future__ import annotations

import argparse
from typing import Any

from filebridge.cli.common import add_common, context, emit_json, table
from filebridge.pipeline.history import run_rows

NAME = "history"
HELP = "every run and file, newest first"
EXAMPLES = (
    'filebridge history',
    'filebridge history acme --limit 10 --json',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``history``."""
    parser.add_argument("connection", nargs="?", help="only this connection")
    parser.add_argument("--limit", type=int, default=50, help="how many runs (default 50)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print the runs."""
    ctx = context(args)
    try:
        rows = [r.to_dict() for r in run_rows(ctx, args.connection, args.limit)]
        location = ctx.ledger.location
    finally:
        ctx.close()
    if args.json:
        emit_json({"state_location": location, "runs": rows})
        return 0
    table([[r["run_id"], r["started_at"], r["connection"], r["kind"], r["mode"], r["state"],
            r["file"], r["file_id"], _counts(r), r["actor"] or ""] for r in rows],
          ["run", "started", "connection", "kind", "mode", "state", "file", "file_id",
           "changes", "by"])
    print(f"\n(state: {location})")
    return 0


def _counts(row: dict[str, Any]) -> str:
    c = row["counts"]
    if "watermark_after" in c:  # an export run
        return (f"{c.get('rows', 0)} rows ({c.get('amendments', 0)} amendments), watermark "
                f"{c.get('watermark_before')}→{c.get('watermark_after')}")
    keys = (("create", "+"), ("update", "~"), ("deactivate", "-"), ("reactivate", "↺"),
            ("rejected", "✗"))
    changes = " ".join(f"{sym}{c[k]}" for k, sym in keys if c.get(k))
    managed = row.get("managed_when_applying")
    if managed is None:
        return changes
    when = "applying" if row["state"] == "running" else "stopped while applying"
    return " ".join(x for x in (changes, f"({when}; {managed} managed at its start)") if x)
