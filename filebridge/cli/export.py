"""Send a connection's course completions to its HR system, exactly once.

Without dates: every completion recorded since the last confirmed delivery (and every
correction of one already sent, marked as an amendment) goes into new files in the
connection's outbox; the watermark moves only after delivery is confirmed, and an export
whose delivery failed is sent again first, same content, same name. With --since/--until:
the completions of that date range are sent again (marked as resend) and the watermark
does not move. --dry-run writes the files under the state folder and sends nothing."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from filebridge.advice import code_advice
from filebridge.cli.common import add_common, context, emit_json
from filebridge.pipeline.exporter import ExportReport, abandon_pending, export_connection

NAME = "export"
HELP = "send new course completions to a connection's outbox (exactly once)"
EXAMPLES = (
    'filebridge export acme',
    'filebridge export acme --dry-run',
    'filebridge export acme --since 2026-11-01 --until 2026-11-30',
)


def _day(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-30") from None


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``export``."""
    parser.add_argument("connection", help="connection name from settings.yaml")
    parser.add_argument("--since", type=_day, metavar="DATE",
                        help="re-export completions completed on or after DATE (YYYY-MM-DD, UTC)")
    parser.add_argument("--until", type=_day, metavar="DATE",
                        help="re-export completions completed up to and including DATE")
    parser.add_argument("--dry-run", action="store_true",
                        help="write the files under the state folder; send and record nothing")
    parser.add_argument("--abandon-pending", action="store_true",
                        help="give up exports whose delivery cannot complete (their rows are "
                             "planned again under new names); the watermark stays")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Export and print what was sent where."""
    ctx = context(args)
    now = datetime.now(UTC)
    try:
        # The same lock as the daemon's export task: a manual export never overlaps it.
        with ctx.ledger.lock(args.connection):
            if args.abandon_pending:
                gone = abandon_pending(ctx, args.connection, now)
                print(f"abandoned pending exports of runs {gone or 'none'}")
            until = args.until + timedelta(days=1) if args.until else None
            report = export_connection(ctx, args.connection, now=now, since=args.since,
                                       until=until, dry_run=args.dry_run)
    finally:
        ctx.close()
    if args.json:
        emit_json(report.to_dict())
    else:
        render(report)
    return report.exit_code


def render(report: ExportReport) -> None:
    """The export for people: retried files, new files, the watermark, the next step."""
    for r in report.retried:
        print(f"sent again (pending from run {r.run_id}): {', '.join(r.files)}")
    for f in report.files:
        place = f.delivered_to or f.local_path
        print(f"{f.name}: {f.rows} rows -> {place}")
    c = report.counts
    if report.error:
        print(f"error: {report.error.message}")
        if advice := code_advice(report.error.code, report.error.to_dict()):
            print(f"next: {advice}")
    print(f"run {report.run_id} export {report.connection}: {report.state} — "
          f"{c.get('completions', 0)} completions, {c.get('amendments', 0)} amendments, "
          f"{c.get('overdue', 0)} overdue; " + (
              "watermark unchanged (re-export)" if report.kind == "range" else
              f"watermark {report.watermark_before} -> {report.watermark_after}"))
