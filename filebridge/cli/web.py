"""Serve the admin pages (connection tiles, runs, held runs, replays, sync now, check) on
127.0.0.1:8080 by default, and manage who may log in: `web add-user NAME --role
admin|support|viewer`, `web passwd NAME`, `web remove-user NAME`, `web users`.
Passwords are read from a prompt (asked twice) or from the first line of standard input,
never from an argument. Behind a reverse proxy with https, pass --forwarded-allow-ips
with the proxy's address so cookies get the Secure flag (or --https-only)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from filebridge.cli.common import add_common, context, emit_json, table
from filebridge.errors import Terminal

NAME = "web"
HELP = "serve the admin pages; add-user, passwd, remove-user, users"


class PasswordMismatch(Terminal):
    """The two typed passwords differ."""

    code = "password-mismatch"

    def __init__(self) -> None:
        super().__init__("the two passwords differ; nothing changed")


EXAMPLES = (
    "filebridge web",
    "filebridge web --host 0.0.0.0 --port 8443 --https-only",
    "filebridge web add-user ann --role admin",
    "filebridge web users",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``web`` and its user commands."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on "
                        "(default 127.0.0.1; put a reverse proxy with https in front)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--https-only", action="store_true",
                        help="always mark cookies Secure (when a proxy terminates https)")
    parser.add_argument("--forwarded-allow-ips", default=None, metavar="ADDRESSES",
                        help="trust X-Forwarded-Proto/For from these proxy addresses "
                             "(comma-separated; default: none)")
    parser.add_argument("--session-hours", type=float, default=8.0,
                        help="a login lasts this long (default 8)")
    add_common(parser, json_output=False)
    sub = parser.add_subparsers(dest="web_command", metavar="USER-COMMAND")
    add = sub.add_parser("add-user", help="create a user (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["admin", "support", "viewer"],
                     help="viewer reads; support also approves, discards, replays and "
                          "syncs; admin also manages users")
    _sub_common(add)
    passwd = sub.add_parser("passwd", help="set a user's password (their sessions end)")
    passwd.add_argument("name")
    _sub_common(passwd)
    remove = sub.add_parser("remove-user", help="delete a user (their sessions end)")
    remove.add_argument("name")
    _sub_common(remove)
    listing = sub.add_parser("users", help="list the users and their roles")
    _sub_common(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON document")


def _sub_common(parser: argparse.ArgumentParser) -> None:
    # Suppressed defaults: `web --settings X add-user` keeps X (a sub-parser default would
    # overwrite the value given before the user command).
    parser.add_argument("--settings", type=Path, default=argparse.SUPPRESS,
                        help="settings file (default: $FILEBRIDGE_SETTINGS or ./settings.yaml)")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of unexpected errors")


def read_password(confirm: bool = True) -> str:
    """A password from the terminal (asked twice) or the first line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Password again: ") != first:
        raise PasswordMismatch()
    return first


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def run(args: argparse.Namespace) -> int:
    """Serve, or run a user command."""
    if args.web_command is None:
        return serve(args)
    from filebridge.web import users

    ctx = context(args)
    try:
        accounts = ctx.ledger.web_accounts
        if args.web_command == "users":
            found = accounts.users()
            if getattr(args, "json", False):
                emit_json({"users": [{"name": u.name, "role": u.role,
                                      "created_at": u.created_at} for u in found]})
            else:
                table([[u.name, u.role, u.created_at] for u in found],
                      ["name", "role", "created"])
            return 0
        if args.web_command == "remove-user":
            users.remove_user(accounts, args.name, by=_actor())
            print(f"removed web user {args.name}")
            return 0
        password = read_password()
        if args.web_command == "add-user":
            users.add_user(accounts, args.name, args.role, password, by=_actor())
            print(f"added web user {args.name} ({args.role})")
        else:
            users.change_password(accounts, args.name, password, by=_actor())
            print(f"password of {args.name} changed; their sessions ended")
        return 0
    finally:
        ctx.close()


def serve(args: argparse.Namespace) -> int:
    """Run the pages under uvicorn until stopped."""
    import uvicorn

    from filebridge.web.app import create_app

    app = create_app(args.settings, session_hours=args.session_hours,
                     secure_cookies=args.https_only)
    location = app.state.web.ctx.ledger.location
    print(f"filebridge web: http://{args.host}:{args.port}/ (state {location})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                proxy_headers=args.forwarded_allow_ips is not None,
                forwarded_allow_ips=args.forwarded_allow_ips)
    return 0
