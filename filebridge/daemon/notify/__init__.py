"""Notifications after runs, on errors, holds and missing files: e-mail and a webhook.

Each channel is a module with the same three functions, ``start``, ``finish`` and
``fail``, taking its settings block and the run's JSON summary. ``notifying`` calls
them around a task, so a notification that fails is logged and never hides (or
replaces) the outcome of the run itself. A failure that will be retried
(``retry_in_seconds`` in the summary) is not sent; the last attempt's failure is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, Literal

from filebridge.daemon.notify import email, webhook

log = logging.getLogger(__name__)

Event = Literal["start", "success", "idle", "rejected", "held", "failed", "missing-file"]
EVENTS: tuple[Event, ...] = ("start", "success", "idle", "rejected", "held", "failed",
                             "missing-file")
# Every run's outcome and every problem; "start" and "idle" (nothing to do) only when asked.
DEFAULT_EVENTS: tuple[Event, ...] = ("success", "rejected", "held", "failed", "missing-file")
CHANNELS: dict[str, ModuleType] = {"email": email, "webhook": webhook}
_GOOD: tuple[Event, ...] = ("success", "idle")


class Notifications:
    """The configured channels (``notifications`` in settings.yaml)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = {name: block for name, block in config.items() if name in CHANNELS}

    def send(self, summary: dict[str, Any]) -> list[str]:
        """Send ``summary`` to every channel that wants its event; returns failed channels."""
        event = summary["event"]
        if event == "failed" and summary.get("retry_in_seconds") is not None:
            return []  # a retry is scheduled: only its final failure is worth a message
        failed = []
        for name, block in self.config.items():
            if event not in block.get("events", DEFAULT_EVENTS):
                continue
            hook: Callable[[dict[str, Any], dict[str, Any]], None] = getattr(
                CHANNELS[name], "start" if event == "start" else
                "finish" if event in _GOOD else "fail")
            try:
                hook(block, summary)
                log.info("notified %s: %s", name, event)
            except Exception as exc:  # noqa: BLE001 - a failed notification never hides the run
                failed.append(name)
                # The exception text may hold a URL with a token: log its type only at INFO+.
                log.warning("notification by %s failed (%s); the run itself is unaffected",
                            name, type(exc).__name__)
                log.debug("notification by %s failed", name, exc_info=True)
        return failed


@contextmanager
def notifying(notifications: Notifications, summary: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Send start, then finish or fail with the summary the block fills in.

    The block sets ``summary["event"]`` (and ``report``, ``exit_code``); an exception
    sends ``failed`` with the error and is re-raised unchanged.
    """
    notifications.send({**summary, "event": "start"})
    try:
        yield summary
    except BaseException as exc:
        summary.update(event="failed", finished_at=datetime.now(UTC).isoformat(),
                       error=summary.get("error") or {"code": getattr(exc, "code", "error"),
                                                      "message": str(exc)})
        notifications.send(summary)
        raise
    summary.setdefault("finished_at", datetime.now(UTC).isoformat())
    notifications.send(summary)
