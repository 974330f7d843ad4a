"""``filebridge``: the commands people type. Each command is a module of this folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from filebridge import __version__
from filebridge.cli import (
    apply,
    approve,
    check,
    deliver,
    demo,
    discard,
    export,
    history,
    link,
    lms,
    plan,
    replay,
    run,
    show,
    status,
    sync,
    trust,
    undo,
    users,
    validate,
)
from filebridge.cli.errors import handle_error

COMMANDS: tuple[ModuleType, ...] = (check, validate, plan, apply, replay, history, show, users,
                                    demo, sync, deliver, trust, export, lms, approve, discard, undo,
                                    link, run, status)


def build_parser() -> argparse.ArgumentParser:
    """The parser with one sub-command per module in ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="filebridge",
        description="Reconcile HR system export files into an LMS, safely and idempotently.",
        epilog="Exit codes: 0 ok, 1 rows rejected or run held, 2 unusable input or "
               "configuration, 3 transport or LMS unavailable.")
    parser.add_argument("--version", action="version", version=f"filebridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__)
        module.register(p)
        p.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, turn errors into messages and exit codes."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BaseException as exc:  # noqa: BLE001 - the one place errors become exit codes
        if isinstance(exc, SystemExit):
            raise
        return handle_error(exc, debug=getattr(args, "debug", False))


if __name__ == "__main__":
    sys.exit(main())
