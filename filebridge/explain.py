"""Exceptions in words for people: a stable code, what went wrong, what to do next, and
the exit code. The CLI prints these lines and the admin pages show them, so both say the
same thing about the same error; the words themselves come from ``filebridge.advice``."""

from __future__ import annotations

from dataclasses import dataclass

from filebridge.advice import error_advice, error_exit_code, problem_advice
from filebridge.config import ConfigError
from filebridge.errors import FilebridgeError
from filebridge.pipeline.report import EXIT_UNUSABLE
from filebridge.problems import Problem


@dataclass(frozen=True)
class Explanation:
    """What went wrong and what to do next: a stable code, lines for people, an exit code."""

    code: str
    lines: tuple[str, ...]
    exit_code: int
    known: bool  # False: an error filebridge has no words for (a bug to report)


def explain(exc: BaseException) -> Explanation:
    """The words and exit code for ``exc``, the same on the terminal and on the pages."""
    if isinstance(exc, ConfigError):
        return Explanation("config-error", (
            *(problem.render() for problem in exc.problems),
            f"configuration is not usable; {error_advice(exc)}"), error_exit_code(exc), True)
    if isinstance(exc, FilebridgeError):
        lines = [f"error: {exc}", *(f"next: {a}" for a in _advice(exc))]
        return Explanation(exc.code, tuple(lines), error_exit_code(exc), True)
    if isinstance(exc, KeyboardInterrupt):
        return Explanation("interrupted", ("interrupted",), 130, True)
    # Not one of filebridge's own errors: a bug. The words say so, and tests look for them.
    return Explanation("unexpected", (f"unexpected error: {type(exc).__name__}: {exc}",),
                       EXIT_UNUSABLE, False)


def _advice(exc: FilebridgeError) -> list[str]:
    """What to do: for a rejected file, the advice of each of its problems."""
    problems = [p for p in getattr(exc, "problems", []) if isinstance(p, Problem)]
    if problems:  # a rejected file (importing formats here would load pandas)
        found = [problem_advice(p.code, p.to_dict()) for p in problems]
        return list(dict.fromkeys(a for a in found if a))
    return [error_advice(exc)]
