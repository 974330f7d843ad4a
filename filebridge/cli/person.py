"""One person of a connection: their current state in the LMS and every run that touched
them, newest first (file and line, each field old → new, why they were deactivated,
their rejected, skipped and filtered rows, what a held run would have done and who
approved or discarded it, undo of those runs). QUERY is an employee id, a current or
former work e-mail, or part of a name (any case). With --file, what that file would do
to them and why, each field's mapping step by step, and whether the whole file would be
held; nothing is changed. Exit 1 when the query names nobody or several people."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path

from filebridge.cli.common import add_common, context, emit_json, require_file
from filebridge.cli.person_render import print_file_answer
from filebridge.pipeline.person import Change, PersonAnswer, RowEvent, RunEntry, person_timeline
from filebridge.pipeline.person_file import FileAnswer, explain_file

NAME = "person"
HELP = "one person's state and timeline: every run, change and reason"


EXAMPLES = (
    "filebridge person acme 001002",
    "filebridge person acme jane.doe@example.com --json",
    'filebridge person acme "Silva" --since 2026-11-01',
    "filebridge person acme 001002 --file drop/acme/acme_employees_2026-11-25.csv",
)


def _date(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``person``."""
    parser.add_argument("connection", help="the connection the person belongs to")
    parser.add_argument("query", help="employee id, work e-mail (current or former) or part "
                                      "of the name")
    parser.add_argument("--since", type=_date, metavar="DATE",
                        help="only runs on or after this day (YYYY-MM-DD, UTC)")
    parser.add_argument("--file", type=Path, metavar="FILE",
                        help="explain what this import file would do to the person (each "
                             "field's mapping step by step, the planned change); changes "
                             "nothing")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print the person's state and timeline."""
    if args.file is not None:
        return _explain(args)
    ctx = context(args)
    try:
        answer = person_timeline(ctx, args.connection, args.query, args.since)
    finally:
        ctx.close()
    if args.json:
        emit_json(answer.to_dict())
    else:
        _print(answer)
    return 0 if answer.status == "found" else 1


def _explain(args: argparse.Namespace) -> int:
    require_file(args.file)
    ctx = context(args)
    try:
        answer = explain_file(ctx, args.connection, args.query, args.file)
    finally:
        ctx.close()
    if args.json:
        emit_json(answer.to_dict())
    elif answer.status == "found":
        print_file_answer(answer)
    else:
        _print(answer)
    return 0 if answer.status == "found" else 1


def _print(answer: PersonAnswer | FileAnswer) -> None:
    if answer.status == "unknown":
        print(f"nobody in connection {answer.connection!r} matches {answer.query!r}")
        if answer.suggestions:
            print("did you mean: " + ", ".join(answer.suggestions))
        return
    if answer.status == "ambiguous":
        print(f"{len(answer.candidates)} people in {answer.connection!r} match "
              f"{answer.query!r}; ask again with one employee id:")
        for c in answer.candidates:
            state = "active" if c.active else "inactive"
            print(f"  {c.employee_id}  {c.name}  {c.email}  ({state})")
        return
    if isinstance(answer, FileAnswer):
        return
    print(f"person {answer.employee_id} of connection {answer.connection}")
    if answer.current is None:
        print("  not in the LMS now")
    else:
        cur = answer.current
        state = "active" if cur.get("active") else f"inactive since {cur.get('deactivated_at')}"
        print(f"  {cur.get('first_name', '')} {cur.get('last_name', '')} <{cur.get('email', '')}>"
              f", {state}")
        shown = ("job_title", "department", "manager_id", "location")
        print("  " + ", ".join(f"{k}: {cur[k]}" for k in shown if cur.get(k)))
    if not answer.timeline:
        print("\nno run touched this person" + (" in that period" if answer.notes == () else ""))
    for entry in answer.timeline:
        print()
        _print_entry(entry)
    for note in answer.notes:
        print(f"\nnote: {note}")


def _print_entry(entry: RunEntry) -> None:
    file = f"file {entry.file} (#{entry.file_id})" if entry.file else "no file"
    about = f" of run {entry.about_run}" if entry.about_run else ""
    actor = f"  by {entry.actor}" if entry.actor else ""
    print(f"run {entry.run_id}  {entry.at:%Y-%m-%d %H:%M}  {entry.kind}{about}  "
          f"{entry.state}  {file}{actor}")
    for link in entry.acted_on_by:
        who = f"{link.actor}, {link.by}" if link.actor else link.by
        print(f"  {link.kind} by run {link.run_id} on {link.at:%Y-%m-%d %H:%M} ({who})"
              f": {link.state}")
    for change in entry.changes:
        print("  " + _describe(change))
    for event in entry.events:
        print("  " + describe_event(event))


def _describe(c: Change) -> str:
    where = f" (line {c.line})" if c.line is not None else ""
    if c.action == "update":
        return f"{c.field}: {c.old!r} → {c.new!r}{where}"
    if c.action == "rekey":
        return f"re-keyed: employee id {c.old} → {c.new}{where}"
    if c.action == "group_add":
        return f"joined group {c.new!r}{where}"
    if c.action == "group_remove":
        return f"left group {c.old!r}{where}"
    reason = f": {c.reason}" if c.reason else ""
    return f"{c.action}d{where}{reason}" if c.action.endswith("e") else (
        f"{c.action}{where}{reason}")


def describe_event(e: RowEvent) -> str:
    """One line for a rejected, skipped or filtered row, or a held run's change."""
    where = f" (line {e.line})" if e.line is not None else ""
    gone = " (values removed by retention)" if e.expired else ""
    about = f": {e.message}" if e.message else ""
    if e.kind == "reject":
        code = e.code or "row rejected (no detail: past the run's error limit)"
        column = f" column {e.field!r}" if e.field else ""
        value = f" value {e.value!r}" if e.value is not None else ""
        return f"rejected{where}: {code}{column}{value}{about}{gone}"
    if e.kind == "filter":  # the rule is the message; the code is always filtered-out
        return f"filtered out{where}{about}{gone}"
    if e.kind == "skip":
        return f"skipped{where}: {e.code}{about}{gone}"
    if e.code == "update":
        return f"held: would update {e.field}: {e.old!r} → {e.value!r}{where}{gone}"
    if e.code == "rekey":
        return f"held: would re-key employee id {e.old} → {e.value}{where}{gone}"
    return f"held: would {e.code}{where}{about}{gone}"
