"""Asking before a command changes the LMS: ``--yes`` answers, a terminal is asked."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from filebridge.cli.common import emit_json
from filebridge.cli.render import render_report, summary_line
from filebridge.pipeline.report import RunReport

CHANGES = ("create", "update", "deactivate", "reactivate", "delete")


def confirmed(args: argparse.Namespace, question: str) -> bool:
    """True with ``--yes`` or when the person at the terminal answers yes."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print("not applied: pass --yes to apply without a prompt", file=sys.stderr)
        return False
    return input(f"\n{question}? [y/N] ").strip().lower() in ("y", "yes")


class PlanPrompt:
    """Show the plan a command is about to apply, ask, and afterwards print the outcome.

    Used as the ``confirm`` callback of a run (replay, approve, undo): the plan is shown
    once, before the question; ``--json`` shows nothing and needs ``--yes``.
    """

    def __init__(self, args: argparse.Namespace, question: str,
                 render: Callable[[dict[str, Any]], None] = render_report,
                 *, skip_empty: bool = False) -> None:
        self.args, self.question, self.render = args, question, render
        self.skip_empty = skip_empty  # a plan that changes nothing needs no question
        self.shown = False

    def __call__(self, report: RunReport) -> bool:
        """Show the plan; True when it may be applied."""
        if not self.args.json:
            self.render(report.to_dict())
            self.shown = True
        if self.skip_empty and not any(report.counts.get(k) for k in CHANGES):
            return True
        return confirmed(self.args, self.question)

    def finish(self, report: dict[str, Any]) -> int:
        """Print the outcome (JSON, the whole report, or the summary line); the exit code."""
        if self.args.json:
            emit_json(report)
        elif not self.shown:
            self.render(report)
        elif report["state"] != "planned":
            print("\n" + summary_line(report))
        return int(report["exit_code"])
