"""The one place that turns exceptions into words and exit codes."""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

from filebridge.cli.style import paint
from filebridge.config import ConfigError
from filebridge.errors import FilebridgeError, Transient
from filebridge.pipeline.errors import StaleApproval
from filebridge.pipeline.report import EXIT_REJECTED_OR_HELD, EXIT_UNAVAILABLE, EXIT_UNUSABLE
from filebridge.transports.errors import HostKeyRejected, TransportConfigError


def handle_error(exc: BaseException, *, debug: bool, err: TextIO | None = None) -> int:
    """Print what went wrong and what to do next; return the exit code."""
    err = err or sys.stderr
    if debug:
        traceback.print_exception(exc, file=err)
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            err.write(problem.render() + "\n")
        err.write("configuration is not usable; fix the lines above "
                  "(`filebridge check` lists every problem)\n")
        return EXIT_UNUSABLE
    if isinstance(exc, FilebridgeError):
        err.write(f"{paint('error', 'red', err)}: {exc}\n")
        if isinstance(exc, HostKeyRejected) or (
                isinstance(exc, TransportConfigError) and exc.key == "known_hosts"):
            err.write("next: `filebridge trust CONNECTION` shows the server's fingerprint; "
                      "check it with the server's admin, then pin it\n")
        if isinstance(exc, StaleApproval):
            return EXIT_REJECTED_OR_HELD  # nothing applied; the run is still held
        return EXIT_UNAVAILABLE if isinstance(exc, Transient) else EXIT_UNUSABLE
    if isinstance(exc, KeyboardInterrupt):
        err.write("interrupted\n")
        return 130
    err.write(f"{paint('unexpected error', 'red', err)}: {type(exc).__name__}: {exc}\n"
              "run with --debug for the traceback\n")
    return EXIT_UNUSABLE
