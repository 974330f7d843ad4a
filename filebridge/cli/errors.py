"""The one place that turns exceptions into words and exit codes (words from advice.py)."""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

from filebridge.cli.advice import error_advice, error_exit_code, problem_advice
from filebridge.cli.style import paint
from filebridge.config import ConfigError
from filebridge.errors import FilebridgeError
from filebridge.pipeline.report import EXIT_UNUSABLE
from filebridge.problems import Problem


def handle_error(exc: BaseException, *, debug: bool, err: TextIO | None = None) -> int:
    """Print what went wrong and what to do next; return the exit code."""
    err = err or sys.stderr
    if debug:
        traceback.print_exception(exc, file=err)
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            err.write(problem.render() + "\n")
        err.write(f"configuration is not usable; {error_advice(exc)}\n")
        return error_exit_code(exc)
    if isinstance(exc, FilebridgeError):
        err.write(f"{paint('error', 'red', err)}: {exc}\n")
        for advice in _advice(exc):
            err.write(f"next: {advice}\n")
        return error_exit_code(exc)
    if isinstance(exc, KeyboardInterrupt):
        err.write("interrupted\n")
        return 130
    # Not one of filebridge's own errors: a bug. The words say so, and tests look for them.
    err.write(f"{paint('unexpected error', 'red', err)}: {type(exc).__name__}: {exc}\n"
              "run with --debug for the traceback\n")
    return EXIT_UNUSABLE


def _advice(exc: FilebridgeError) -> list[str]:
    """What to do: for a rejected file, the advice of each of its problems."""
    problems = [p for p in getattr(exc, "problems", []) if isinstance(p, Problem)]
    if problems:  # a rejected file (importing formats here would load pandas)
        found = [problem_advice(p.code, p.to_dict()) for p in problems]
        return list(dict.fromkeys(a for a in found if a))
    return [error_advice(exc)]
