"""Run the daemon in the foreground: every connection's tasks on the schedules of
schedules/*.yaml (import, export, cleanup, missing-file deadlines), local inboxes
watched when a schedule says `watch: true`, logs on stdout. Missed runs (the daemon was
down) run once at start-up, and files an interrupted run left in processing/ are taken
up again. SIGTERM or SIGINT stops it cleanly: running tasks finish, exit 0.
With --once every due task runs once and the command exits with the worst exit code
(for cron); --once --now runs every scheduled task, due or not. It retries transient
failures (a busy database, a server down) with backoff for up to --retry-for seconds
and names the connections that did not complete.
At most `max_parallel_runs` (settings.yaml) connections run at the same time."""

from __future__ import annotations

import argparse
import logging

from filebridge.cli.common import add_common, context
from filebridge.daemon import Daemon, load_schedules
from filebridge.daemon.heartbeat import DEFAULT_INTERVAL
from filebridge.daemon.logs import setup_logging

NAME = "run"
HELP = "run the scheduler in the foreground (or every due task once with --once)"
EXAMPLES = (
    'filebridge run',
    'filebridge run --once      # for cron: every due task once',
    'filebridge run --once --now   # every scheduled task now, due or not',
    'filebridge run --connection acme --log-format json',
)

log = logging.getLogger(__name__)
ONCE_RETRY = 300.0  # seconds: a cron run gives a busy database or server five minutes


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``run``."""
    parser.add_argument("--once", action="store_true",
                        help="run every due task once, then exit (for cron)")
    parser.add_argument("--now", action="store_true",
                        help="with --once: run every scheduled task now, due or not "
                             "(the missing-file check aside)")
    parser.add_argument("--log-format", choices=["plain", "json"], default=None,
                        help="log lines as text or one JSON object each "
                             "(default: settings log.format)")
    parser.add_argument("--connection", action="append", default=None, metavar="NAME",
                        help="serve only this connection (repeat for several)")
    parser.add_argument("--retry-for", type=float, default=ONCE_RETRY, metavar="SECONDS",
                        help="with --once: retry transient failures with backoff for up to "
                             f"this long before giving up (default {ONCE_RETRY:g})")
    parser.add_argument("--heartbeat", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS",
                        help=f"seconds between heartbeats (default {DEFAULT_INTERVAL:g})")
    add_common(parser, json_output=False)


def run(args: argparse.Namespace) -> int:
    """Load schedules, then serve until stopped (or run due tasks once)."""
    ctx = context(args)
    try:
        settings = ctx.settings
        setup_logging(args.log_format or settings.log.format,
                      "DEBUG" if args.debug else settings.log.level)
        schedules = load_schedules(settings)
        if args.connection:
            for name in args.connection:
                ctx.connection(name)  # unknown names fail with the list of known ones
            schedules = {n: s for n, s in schedules.items() if n in args.connection}
        if not schedules:
            log.warning("no schedule for any connection: add schedules/NAME.yaml")
        daemon = Daemon(ctx, schedules, heartbeat_seconds=args.heartbeat,
                        once_retry_seconds=max(0.0, args.retry_for))
        daemon.install_signal_handlers()
        return daemon.run_once(everything=args.now) if args.once else daemon.serve()
    finally:
        ctx.close()
