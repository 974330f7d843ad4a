"""Named points where tests can make the process die, to prove crash safety.

``FILEBRIDGE_FAILPOINT=<name>:kill`` SIGKILLs the process when it reaches ``<name>``
(no cleanup, no flush: like a power cut or the OOM killer). Several points may be
given, separated by commas. Unset in production: the check is one dict lookup.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "FILEBRIDGE_FAILPOINT"


def failpoint(name: str) -> None:
    """Die here if the environment asks for it."""
    wanted = os.environ.get(VARIABLE)
    if wanted and f"{name}:kill" in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
