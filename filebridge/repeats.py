"""Say a repeating problem once per change, then only as a slow reminder.

A daemon meets the same condition on every poll (an inbox that is a file, a server that
is down): logging it each time buries everything else. ``Repeats`` remembers the last
message per key and tells whether this one is news (first time, changed, or the
reminder is due) and whether a problem just went away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

REMIND_EVERY = 3600.0  # seconds between reminders of an unchanged problem


@dataclass
class Repeats:
    """Last message per key, and when it was last said."""

    remind_every: float = REMIND_EVERY
    clock: Callable[[], float] = time.monotonic
    _last: dict[object, tuple[str, float, int]] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def news(self, key: object, message: str) -> tuple[bool, int]:
        """Whether to say ``message`` now, and how often it was kept quiet since."""
        now = self.clock()
        with self._guard:
            last = self._last.get(key)
            if last is None or last[0] != message or now - last[1] >= self.remind_every:
                self._last[key] = (message, now, 0)
                return True, 0 if last is None or last[0] != message else last[2]
            self._last[key] = (last[0], last[1], last[2] + 1)
            return False, last[2] + 1

    def cleared(self, key: object) -> bool:
        """Forget ``key``'s problem; True if there was one (say that it is over)."""
        with self._guard:
            return self._last.pop(key, None) is not None
