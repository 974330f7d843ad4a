"""List the LMS groups a connection's group rules made, with member counts, or the
members of one of them."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from filebridge.cli.common import add_common, context, emit_json, table
from filebridge.pipeline.groups import group_rows, member_rows

NAME = "groups"
HELP = "the LMS groups a connection owns, or one group's members"
EXAMPLES = (
    "filebridge groups acme",
    "filebridge groups acme 'Sales DACH'",
    "filebridge groups acme Contractors --json | jq '.members[].employee_id'",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``groups``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("group", nargs="?", default=None,
                        help="a group's name: list its members instead")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print the groups, or one group's members."""
    ctx = context(args)
    try:
        ctx.connection(args.connection)
        target = ctx.target(args.connection)
        if args.group is None:
            groups = group_rows(target, args.connection)
        else:
            members = member_rows(target, args.connection, args.group)
    finally:
        ctx.close()
    if args.group is None:
        if args.json:
            emit_json({"connection": args.connection, "count": len(groups),
                       "groups": [asdict(g) for g in groups]})
            return 0
        table([[g.group, g.members, g.by_rule, g.by_hand] for g in groups],
              ["group", "members", "by rule", "by hand"])
        print(f"\n{len(groups)} group(s)")
        return 0
    if args.json:
        emit_json({"connection": args.connection, "group": args.group,
                   "count": len(members), "members": [asdict(m) for m in members]})
        return 0
    table([[m.employee_id, m.managed_by or "-", "rule" if m.by_rule else "by hand"]
           for m in members], ["employee_id", "managed_by", "added"])
    print(f"\n{len(members)} member(s) of {args.group}")
    return 0
