"""The CLI's end of error handling: print the explanation of an error, return its exit code."""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

from filebridge.cli.style import paint
from filebridge.explain import Explanation, explain

__all__ = ["Explanation", "explain", "handle_error"]


def handle_error(exc: BaseException, *, debug: bool, err: TextIO | None = None) -> int:
    """Print what went wrong and what to do next; return the exit code."""
    err = err or sys.stderr
    if debug:
        traceback.print_exception(exc, file=err)
    explanation = explain(exc)
    for line in explanation.lines:
        head, sep, rest = line.partition(": ")
        if sep and head in ("error", "unexpected error"):
            line = f"{paint(head, 'red', err)}: {rest}"
        err.write(line + "\n")
    if not explanation.known and not debug:
        err.write("run with --debug for the traceback\n")
    return explanation.exit_code
