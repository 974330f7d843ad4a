"""``filebridge``: the commands people type. Each command is a module of this folder."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from filebridge import __version__
from filebridge.cli.errors import handle_error

# The commands, in the order `filebridge --help` lists them; each is the module
# filebridge.cli.<name>, imported only when needed: `filebridge plan` does not load the
# SFTP client or the scheduler.
COMMAND_NAMES: tuple[str, ...] = (
    "check", "validate", "plan", "apply", "replay", "history", "show", "users", "demo", "sync",
    "deliver", "trust", "export", "lms", "approve", "discard", "undo", "link", "run", "status",
    "verify")


def command(name: str) -> ModuleType:
    """The module of command ``name``."""
    return importlib.import_module(f"filebridge.cli.{name}")


def __getattr__(name: str) -> tuple[ModuleType, ...]:
    if name == "COMMANDS":  # every command module (imports them all)
        return tuple(command(n) for n in COMMAND_NAMES)
    raise AttributeError(name)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with one sub-command per command, or just ``only``'s."""
    parser = argparse.ArgumentParser(
        prog="filebridge",
        description="Reconcile HR system export files into an LMS, safely and idempotently.",
        epilog="Exit codes: 0 ok, 1 rows rejected or run held, 2 unusable input or "
               "configuration, 3 transport or LMS unavailable.")
    parser.add_argument("--version", action="version", version=f"filebridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_NAMES if only is None else (only,):
        module = command(name)
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__)
        module.register(p)
        p.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, turn errors into messages and exit codes."""
    words = list(sys.argv[1:] if argv is None else argv)
    # The command is the first word: only its module is loaded (the whole list for --help).
    only = words[0] if words and words[0] in COMMAND_NAMES else None
    args = build_parser(only).parse_args(words)
    try:
        return int(args.handler(args))
    except BaseException as exc:  # noqa: BLE001 - the one place errors become exit codes
        if isinstance(exc, SystemExit):
            raise
        return handle_error(exc, debug=getattr(args, "debug", False))


if __name__ == "__main__":
    sys.exit(main())
