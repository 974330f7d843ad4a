"""Show the state of every connection: Connected, Connection error (with the reason) or
Never synced; the last successful sync and its file; the next scheduled runs; runs held
for approval; missing-file alerts; whether the daemon is alive (its heartbeat); and for a
connection feeding an external LMS (SCIM, Moodle), whether that LMS answers with its token.
Reads the ledger (and asks external LMSs); works whether or not the daemon runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from filebridge.advice import held_advice
from filebridge.cli.common import add_common, context, emit_json
from filebridge.daemon import load_schedules, status

NAME = "status"
HELP = "show each connection's state, last sync, next runs, holds and alerts"
EXAMPLES = (
    'filebridge status',
    "filebridge status --json | jq '.connections[].status'",
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``status``."""
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print the status; exit 0 whenever it could be read."""
    ctx = context(args)
    try:
        report = status(ctx, load_schedules(ctx.settings)).to_dict()
    finally:
        ctx.close()
    if args.json:
        emit_json(report)
    else:
        render_status(report)
    return 0


def render_status(report: dict[str, Any], out: TextIO | None = None) -> None:
    """Human form: the daemon line, then a block per connection (on stdout by default)."""
    out = out or sys.stdout  # looked up now, not when the module was imported
    daemon = report["daemon"]
    alive = [d for d in daemon["daemons"] if d["alive"]]
    if alive:
        out.write(f"daemon: alive ({', '.join(d['holder'] for d in alive)}; last heartbeat "
                  f"{alive[0]['last_heartbeat']})\n")
    elif daemon["daemons"]:
        out.write(f"daemon: NOT RUNNING (last heartbeat {daemon['daemons'][0]['last_heartbeat']}"
                  f" from {daemon['daemons'][0]['holder']})\n")
    else:
        out.write("daemon: not running\n")
    out.write(f"state: {report['state_location']}\n")
    for c in report["connections"]:
        out.write(f"\n{c['name']}: {c['status_text']}"
                  + (f": {c['reason']}" if c["reason"] else "") + "\n")
        lms = c["lms"]
        if lms["type"] != "builtin":
            state = "reachable" if lms["reachable"] else "UNREACHABLE"
            out.write(f"  lms: {lms['type']} {lms['location']}: {state}"
                      + (f" ({lms['detail']})" if lms["detail"] else "") + "\n")
        last = c["last_sync"]
        out.write("  last sync: " + (f"{last['at']} {last['file']} (run {last['run_id']})"
                                     if last else "never") + "\n")
        for r in c["next_runs"]:
            out.write(f"  next {r['task']}: {r['at']}\n")
        for h in c["held_runs"]:
            out.write(f"  held: run {h['run_id']} ({h['file']}): "
                      f"{held_advice([], h['run_id'])}\n")
        lock = c.get("lock")
        if lock and lock["alive"]:
            out.write(f"  running now: {lock['described']} since {lock['since']}\n")
        elif lock:
            out.write(f"  lock left by {lock['described']}, no longer running: the next run "
                      f"takes it over; `filebridge unlock {c['name']}` removes it now\n")
        for a in c["alerts"]:
            out.write(f"  ALERT: {a['message']}\n")
        for t in c["tasks"]:
            for w in t.get("waits") or []:
                out.write(f"  last {t['task']} (task run {t['id']}) {describe_wait(w)}\n")


def describe_wait(wait: dict[str, Any]) -> str:
    """A long wait for a lock, from its JSON form, for people."""
    since = f" since {wait['since']}" if wait.get("since") else ""
    end = "" if wait.get("obtained", True) else ", then gave up"
    return (f"waited {wait['seconds']:.0f} s for {wait['lock']}, held by {wait['holder']}"
            f"{since}{end}")
