"""Asking before a command changes the LMS: ``--yes`` answers, a terminal is asked.

One rule for every command that asks (approve, replay, undo, link, trust): when nothing
was done because it was not confirmed (no terminal and no ``--yes``, or the answer was
no), the command says so and exits 1 (``EXIT_NOT_CONFIRMED``), never 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from filebridge.cli.common import emit_json
from filebridge.cli.render import render_report, summary_line
from filebridge.pipeline.report import EXIT_REJECTED_OR_HELD, RunReport

CHANGES = ("create", "update", "deactivate", "reactivate", "delete")
EXIT_NOT_CONFIRMED = EXIT_REJECTED_OR_HELD  # 1: nothing was done, someone must decide


def confirmed(args: argparse.Namespace, question: str) -> bool:
    """True with ``--yes`` or when the person at the terminal answers yes."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print("not applied: no terminal to ask; pass --yes to apply without a prompt "
              f"(exit {EXIT_NOT_CONFIRMED})", file=sys.stderr)
        return False
    if input(f"\n{question}? [y/N] ").strip().lower() in ("y", "yes"):
        return True
    print(f"not applied (exit {EXIT_NOT_CONFIRMED})", file=sys.stderr)
    return False


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
        self.declined = False

    def __call__(self, report: RunReport) -> bool:
        """Show the plan; True when it may be applied."""
        if not self.args.json:
            self.render(report.to_dict())
            self.shown = True
        if self.skip_empty and not any(report.counts.get(k) for k in CHANGES):
            return True
        self.declined = not confirmed(self.args, self.question)
        return not self.declined

    def finish(self, report: dict[str, Any]) -> int:
        """Print the outcome (JSON, the whole report, or the summary line); the exit code."""
        if self.args.json:
            emit_json(report)
        elif not self.shown:
            self.render(report)
        elif report["state"] != "planned":
            print("\n" + summary_line(report, sys.stdout))
        code = int(report["exit_code"])
        return max(code, EXIT_NOT_CONFIRMED) if self.declined else code
