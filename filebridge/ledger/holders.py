"""Who holds a lock or runs a run: a process named so that a reused PID never passes for it.

A PID alone is not an identity: after a crash the kernel hands the same number to a
new process (a daemon restarted in a container is PID 1 again). A holder is therefore
``host:pid:start:boot``: the process's start time in clock ticks since boot (field 22
of ``/proc/PID/stat``) and the kernel's boot id (``/proc/sys/kernel/random/boot_id``).
The holder is alive only if a process with that PID exists on this host, in this boot,
and started at that very tick. Where ``/proc`` is missing, start and boot are empty and
the PID check is all there is.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

PROC = Path("/proc")


def process_start(pid: int, proc: Path = PROC) -> str:
    """The start time of ``pid`` in clock ticks since boot, or "" if it cannot be read."""
    try:
        text = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may itself contain ") ".
    fields = text[text.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else ""  # field 22 overall


@cache
def boot_id(proc: Path = PROC) -> str:
    """This boot's id (32 hex digits), or "" where the kernel does not expose one."""
    try:
        text = (proc / "sys" / "kernel" / "random" / "boot_id").read_text(encoding="ascii")
    except OSError:
        return ""
    return text.strip().replace("-", "")


def _boot_time(proc: Path = PROC) -> float | None:
    try:
        for line in (proc / "stat").read_text(encoding="ascii").splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class Holder:
    """A process, as locks and runs record it."""

    host: str
    pid: int
    start: str = ""  # clock ticks since boot; "" when unknown
    boot: str = ""  # boot id; "" when unknown

    @classmethod
    def current(cls) -> Holder:
        """This process."""
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start(pid), boot_id())

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """Read ``host:pid[:start:boot[:...]]``; None when there is no PID in it."""
        parts = text.split(":")
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        start = parts[2] if len(parts) > 3 and parts[2].isdigit() else ""
        boot = parts[3] if len(parts) > 3 and start else ""
        return cls(parts[0], int(parts[1]), start, boot)

    def render(self) -> str:
        """``host:pid:start:boot``, the stored form."""
        return f"{self.host}:{self.pid}:{self.start}:{self.boot}"

    def alive(self) -> bool | None:
        """True or False for a process of this host; None when it runs elsewhere (unknowable)."""
        if self.host != socket.gethostname():
            return None
        if self.boot and boot_id() and self.boot != boot_id():
            return False  # the machine rebooted since: every process of then is gone
        if self.start and process_start(self.pid):
            return process_start(self.pid) == self.start  # a reused PID starts later
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        """For people: ``pid 1234 on host web1, started 2026-12-03 08:00:01 UTC``."""
        text = f"pid {self.pid} on host {self.host}"
        started = self.started_at()
        return f"{text}, started {started:%Y-%m-%d %H:%M:%S} UTC" if started else text

    def started_at(self) -> datetime | None:
        """When the process started, if it ran on this host in this boot."""
        btime = _boot_time()
        if not self.start or self.host != socket.gethostname() or btime is None \
                or self.boot != boot_id():
            return None
        ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        return datetime.fromtimestamp(btime + int(self.start) / ticks, UTC)


def describe_holder(text: str) -> str:
    """A stored holder string for people (the string itself when it names no process)."""
    holder = Holder.parse(text)
    return holder.describe() if holder else text
