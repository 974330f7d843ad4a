"""Show an SFTP server's host key fingerprint and pin it for the connection, only after you
confirm it (on a terminal, or with --yes). Check the fingerprint with the server's
admin first: pinning a wrong key hands the login to whoever answered. A key that
differs from the one already pinned is refused unless --replace is given."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from filebridge.cli.common import add_common, context, emit_json
from filebridge.cli.confirm import EXIT_NOT_CONFIRMED
from filebridge.transports.trust import (
    HostKeyOffer,
    check_pinnable,
    inspect_host_key,
    pin_offered_key,
)

NAME = "trust"
HELP = "show an SFTP server's host key and pin it after confirmation"
EXIT_NOT_PINNED = EXIT_NOT_CONFIRMED  # the rule of every command that asks
EXAMPLES = (
    'filebridge trust acme            # shows the fingerprint, asks before pinning',
    "filebridge trust acme --replace  # the server's key changed (check with its admin)",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``trust``."""
    parser.add_argument("connection", help="SFTP connection name from settings.yaml")
    parser.add_argument("--yes", action="store_true",
                        help="pin without asking (you checked the fingerprint already)")
    parser.add_argument("--replace", action="store_true",
                        help="replace a different key pinned before (the server's key changed)")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Fetch the key, show it, confirm, pin.

    ``check_pinnable`` runs before the question: a changed key without --replace, or a
    connection without a known_hosts file, is refused (exit 2) without asking.
    """
    ctx = context(args)
    try:
        offer = inspect_host_key(args.connection, ctx.connection(args.connection).transport,
                                 ctx.settings.base_dir)
    finally:
        ctx.close()
    out = sys.stderr if args.json else sys.stdout
    _describe(offer, out)
    result = offer.to_dict()
    code = 0
    if offer.state == "trusted":
        print("already pinned for this connection; nothing to do", file=out)
    elif check_pinnable(offer, replace=args.replace) and _confirmed(args, offer):
        result["pinned_in"] = str(pin_offered_key(offer, replace=args.replace))
        result["state"] = "pinned"
        print(f"pinned in {result['pinned_in']}", file=out)
    else:
        print("not pinned (run with --yes after checking the fingerprint)", file=out)
        result["state"] = "not-pinned"
        code = EXIT_NOT_PINNED
    if args.json:
        emit_json(result)
    return code


def _describe(offer: HostKeyOffer, out: TextIO) -> None:
    write = out.write
    write(f"{offer.host}:{offer.port} offers {offer.key_type} {offer.fingerprint}\n")
    if offer.state == "changed":
        write("WARNING: THIS IS NOT THE KEY PINNED FOR THIS CONNECTION.\n"
              f"  pinned: {', '.join(offer.pinned)}\n"
              "  The server may have been reinstalled, or someone is in between. Check the "
              "new fingerprint with the server's admin; replace it only with --replace.\n")


def _confirmed(args: argparse.Namespace, offer: HostKeyOffer) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        return False
    answer = input(f"Pin this key for connection {offer.connection!r}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
