"""List the LMS users managed by a connection: the built-in store's, or for an external
LMS (SCIM, Moodle) filebridge's mirror of it (what the LMS last confirmed; `filebridge
verify` compares it with the LMS itself)."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context, emit_json, table

NAME = "users"
HELP = "the LMS users a connection manages"
COLUMNS = ["employee_id", "email", "first_name", "last_name", "department", "job_title",
           "manager_id", "active"]
EXAMPLES = (
    'filebridge users acme --active',
    "filebridge users acme --json | jq '.count'",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``users``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--active", dest="active", action="store_const", const=True,
                       help="only active users")
    state.add_argument("--inactive", dest="active", action="store_const", const=False,
                       help="only deactivated users")
    parser.add_argument("--limit", type=int, default=None, help="at most this many")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print the users."""
    ctx = context(args)
    try:
        ctx.connection(args.connection)
        frame = ctx.target(args.connection).users(args.connection, active=args.active,
                                                  limit=args.limit)
    finally:
        ctx.close()
    if "status" in frame.columns:  # stored as the active flag: say it in the field's words
        frame["status"] = frame["active"].astype(bool).map({True: "active", False: "inactive"})
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    if args.json:
        emit_json({"connection": args.connection, "count": len(records), "users": records})
        return 0
    table([[r.get(c) for c in COLUMNS] for r in records], COLUMNS)
    print(f"\n{len(records)} user(s)")
    return 0
