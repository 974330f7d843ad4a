"""Exceptions in words for people: a stable code, what went wrong, what to do next, and
the exit code. The CLI prints these lines and the admin pages show them, so both say the
same thing about the same error."""

from __future__ import annotations

from dataclasses import dataclass

from filebridge.config import ConfigError
from filebridge.errors import FilebridgeError, Transient
from filebridge.pipeline.report import EXIT_UNAVAILABLE, EXIT_UNUSABLE
from filebridge.transports.errors import HostKeyRejected, TransportConfigError


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
            "configuration is not usable; fix the lines above "
            "(`filebridge check` lists every problem)"), EXIT_UNUSABLE, True)
    if isinstance(exc, FilebridgeError):
        lines = [f"error: {exc}"]
        if isinstance(exc, HostKeyRejected) or (
                isinstance(exc, TransportConfigError) and exc.key == "known_hosts"):
            lines.append("next: `filebridge trust CONNECTION` shows the server's fingerprint; "
                         "check it with the server's admin, then pin it")
        code = str(getattr(exc, "code", "") or type(exc).__name__)
        return Explanation(code, tuple(lines),
                           EXIT_UNAVAILABLE if isinstance(exc, Transient) else EXIT_UNUSABLE, True)
    if isinstance(exc, KeyboardInterrupt):
        return Explanation("interrupted", ("interrupted",), 130, True)
    return Explanation("unexpected", (f"unexpected error: {type(exc).__name__}: {exc}",),
                       EXIT_UNUSABLE, False)
