"""``filebridge``: the commands people type. Each command is a module of this folder."""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import ModuleType

from filebridge import __version__
from filebridge.cli.errors import handle_error

EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE
EXIT_USAGE = 2  # argparse's own code for a usage error

# The commands, in the order `filebridge --help` lists them; each is the module
# filebridge.cli.<name>, imported only when needed: `filebridge plan` does not load the
# SFTP client or the scheduler.
COMMAND_NAMES: tuple[str, ...] = (
    "check", "validate", "plan", "apply", "replay", "history", "show", "users", "demo", "sync",
    "deliver", "trust", "export", "lms", "approve", "discard", "undo", "link", "run", "status",
    "unlock", "verify", "person", "web")


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
        epilog="examples:\n  filebridge check\n  filebridge plan acme export.csv\n"
               "  filebridge apply acme export.csv\n  filebridge status\n"
               "  filebridge COMMAND --help    # options and examples of one command\n\n"
               "exit codes: 0 ok, 1 rows rejected, run held or nothing confirmed, 2 unusable "
               "input or configuration, 3 transport or LMS unavailable",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"filebridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_NAMES if only is None else (only,):
        module = command(name)
        examples = "examples:\n" + "\n".join(f"  {e}" for e in module.EXAMPLES)
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__,
                           epilog=examples,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.register(p)
        p.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command, turn errors into messages and exit codes."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and not words[0].startswith("-") and words[0] not in COMMAND_NAMES:
        return unknown_command(words[0])
    # The command is the first word: only its module is loaded (the whole list for --help).
    only = words[0] if words and words[0] in COMMAND_NAMES else None
    args = build_parser(only).parse_args(words)
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        return closed_pipe()
    except BaseException as exc:  # noqa: BLE001 - the one place errors become exit codes
        if isinstance(exc, SystemExit):
            raise
        return handle_error(exc, debug=getattr(args, "debug", False))


def unknown_command(word: str) -> int:
    """Say that ``word`` is no command, suggest the closest ones; exit 2."""
    close = difflib.get_close_matches(word.lower(), COMMAND_NAMES, n=2, cutoff=0.5)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    sys.stderr.write(f"filebridge: unknown command {word!r}{hint}; `filebridge --help` lists "
                     "every command\n")
    return EXIT_USAGE


def closed_pipe() -> int:
    """The reader went away (``filebridge users acme | head``): stop quietly, as Unix
    tools do when SIGPIPE ends them, with their exit status 128 + SIGPIPE."""
    # Point stdout at /dev/null so the interpreter's last flush cannot fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (captured): nothing left to flush
        pass
    finally:
        os.close(devnull)
    return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
