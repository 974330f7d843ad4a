"""Compare an external LMS (SCIM, Moodle) with filebridge's mirror of it: read the LMS
page by page and report people changed, deactivated, reactivated or deleted there by
hand, accounts filebridge does not manage, and groups the connection owns deleted there or
members it added taken out there. With --repair the mirror takes what the
LMS holds, so the next import corrects the LMS. Exit 1 when there is drift."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from filebridge.cli.common import add_common, context, emit_json

NAME = "verify"
HELP = "list an external LMS and report drift from filebridge's mirror; --repair it"
SHOWN = 20


EXAMPLES = (
    "filebridge verify acme",
    "filebridge verify acme --repair",
    "filebridge verify acme --json",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``verify``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("--repair", action="store_true",
                        help="make the mirror hold what the LMS holds; the next import "
                             "then corrects the LMS")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Verify, print the drift; 0 when the LMS agrees with the mirror, else 1."""
    from filebridge.pipeline.drift import verify

    ctx = context(args)
    try:
        ctx.connection(args.connection)
        report = verify(ctx, args.connection, args.repair, datetime.now(UTC))
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
    else:
        render(report)
    return 0 if report["clean"] else 1


def render(report: dict[str, Any]) -> None:
    """Human form: one line per kind of drift, then a few of each."""
    print(f"{report['connection']}: listed {report['listed']} user(s) at {report['location']}")
    if report["clean"]:
        print("no drift: the LMS holds what filebridge last wrote")
    for key, words in (("changed", "changed in the LMS"), ("deactivated", "deactivated in "
                       "the LMS"), ("reactivated", "reactivated in the LMS"),
                       ("deleted", "deleted from the LMS"),
                       ("unmanaged", "in the LMS under a key (externalId, idnumber, or the "
                        "configured key attribute) holding an employee id filebridge does "
                        "not manage")):
        items = report[key]
        if not items:
            continue
        print(f"{len(items)} {words}")
        for item in items[:SHOWN]:
            if isinstance(item, dict):
                fields = ", ".join(f"{f}: {v['mirror']!r} → {v['lms']!r}"
                                   for f, v in item["fields"].items())
                print(f"  {item['employee_id']}: {fields}")
            else:
                print(f"  {item}")
        if len(items) > SHOWN:
            print(f"  … and {len(items) - SHOWN} more (--json lists all)")
    for name in report.get("groups_deleted", [])[:SHOWN]:
        print(f"group {name!r} (owned by this connection) deleted from the LMS")
    removed = report.get("members_removed", [])
    if removed:
        print(f"{len(removed)} group member(s) filebridge added taken out in the LMS")
        for item in removed[:SHOWN]:
            print(f"  {item['group']}: {item['employee_id']}")
    if report["repaired"]:
        print("mirror repaired: the next import of this connection corrects the LMS")
    elif not report["clean"]:
        print(f"next: `filebridge verify {report['connection']} --repair`, then the next "
              "import corrects the LMS")
