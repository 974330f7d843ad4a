"""Clear the lock a dead process left on a connection. Every run takes its connection's
lock; a process that dies holding it (killed, out of memory, power cut) normally has
it taken over by the next run, since its death is detected (PID and start time, or on
PostgreSQL the end of its database session). `unlock` says who holds the lock and, when
that process is gone, removes it at once. It refuses, naming the holder, while the
holder is still running (exit 3)."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, context, emit_json

NAME = "unlock"
HELP = "remove a connection's lock left by a dead process (refuses while it runs)"
EXAMPLES = (
    'filebridge unlock acme',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``unlock``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Remove dead holders' locks of the connection; refuse while a holder is alive."""
    ctx = context(args)
    try:
        ctx.connection(args.connection)
        removed = ctx.ledger.unlock(args.connection)
    finally:
        ctx.close()
    if args.json:
        emit_json({"connection": args.connection, "removed": [
            {"lock": s.connection, "holder": s.holder, "described": s.describe(),
             "acquired_at": s.acquired_at} for s in removed]})
        return 0
    for s in removed:
        print(f"removed the lock on {s.connection!r} of {s.describe()} (held since "
              f"{s.acquired_at:%Y-%m-%d %H:%M:%S} UTC); that process is no longer running")
    if not removed:
        print(f"{args.connection}: not locked")
    return 0
