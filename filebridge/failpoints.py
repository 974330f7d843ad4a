"""Named points where tests can make the process die or fail, to prove crash safety.

``FILEBRIDGE_FAILPOINT=<name>:kill`` SIGKILLs the process when it reaches ``<name>``
(no cleanup, no flush: like a power cut or the OOM killer); ``<name>:fail`` raises
``InjectedFailure`` there instead (like a database that stops answering, with the
process going on). Several points may be given, separated by commas. Unset in
production: the check is one dict lookup.
"""

from __future__ import annotations

import os
import signal

from filebridge.errors import Transient

VARIABLE = "FILEBRIDGE_FAILPOINT"


class InjectedFailure(Transient):
    """A failure a test asked for at a named step."""

    code = "injected-failure"

    def __init__(self, step: str) -> None:
        super().__init__(f"failure injected at {step} ({VARIABLE})")
        self.step = step


def failpoint(name: str) -> None:
    """Die, or fail, here if the environment asks for it."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    asked = wanted.split(",")
    if f"{name}:kill" in asked:
        os.kill(os.getpid(), signal.SIGKILL)
    if f"{name}:fail" in asked:
        raise InjectedFailure(name)
