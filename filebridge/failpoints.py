"""Named points where tests can make the process die or fail, to prove crash safety.

``FILEBRIDGE_FAILPOINT=<name>:kill`` SIGKILLs the process when it reaches ``<name>``
(no cleanup, no flush: like a power cut or the OOM killer). The other actions raise
there instead, the process going on:

- ``<name>:fail`` raises ``InjectedFailure``, a transient error that names the step
  (like a database that stops answering right there);
- ``<name>:raise`` raises ``InjectedBug``, an error filebridge does not check for (like
  a bug);
- ``<name>:transient`` raises ``InjectedTransient`` (like a database or server that is
  busy for a moment).

``<name>:<action>:N`` raises only the first N times this process gets there. Several
points may be given, separated by commas. Unset in production: the check is one dict
lookup.
"""

from __future__ import annotations

import os
import signal
import threading

from filebridge.errors import Transient

VARIABLE = "FILEBRIDGE_FAILPOINT"
_hits: dict[str, int] = {}
_guard = threading.Lock()


class InjectedFailure(Transient):
    """A failure a test asked for at a named step."""

    code = "injected-failure"

    def __init__(self, step: str) -> None:
        super().__init__(f"failure injected at {step} ({VARIABLE})")
        self.step = step


class InjectedBug(Exception):
    """An error a test asked for at a failpoint (stands for any unexpected error)."""


class InjectedTransient(Transient):
    """A transient error a test asked for at a failpoint."""

    code = "injected-transient"


def failpoint(name: str) -> None:
    """Die or raise here if the environment asks for it."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    for entry in wanted.split(","):
        point, _, rest = entry.partition(":")
        if point != name:
            continue
        action, _, limit = rest.partition(":")
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if action not in ("fail", "raise", "transient"):
            continue
        with _guard:
            _hits[entry] = _hits.get(entry, 0) + 1
            if limit.isdigit() and _hits[entry] > int(limit):
                continue
        if action == "fail":
            raise InjectedFailure(name)
        if action == "raise":
            raise InjectedBug(f"failure injected at {name}")
        raise InjectedTransient(f"transient failure injected at {name}")
