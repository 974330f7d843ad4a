"""Logging of the daemon: plain or JSON lines, each with its connection and run id.

The connection and the task run id live in context variables set around each task
(``log_context``), so every line logged inside a run carries them, including lines
from the pipeline and transports, which know nothing about the daemon.

Personal data must never reach the log at info level. Code avoids logging it; as a
second line of defence, e-mail addresses in messages at INFO and above are masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TextIO

from filebridge.activity import current_connection, current_run
from filebridge.config.settings import LogFormat

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_PLAIN = "%(asctime)s %(levelname)-7s [%(connection)s %(run_id)s] %(name)s: %(message)s"


@contextmanager
def log_context(connection: str, run_id: str) -> Iterator[None]:
    """Tag every log line in the block (in this thread) with ``connection`` and ``run_id``."""
    tokens = current_connection.set(connection), current_run.set(run_id)
    try:
        yield
    finally:
        current_connection.reset(tokens[0])
        current_run.reset(tokens[1])


class ContextFilter(logging.Filter):
    """Adds ``connection`` and ``run_id`` to records and masks e-mail addresses at INFO+."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate (and, above DEBUG, redact) the record; never drops it."""
        record.connection = current_connection.get()
        record.run_id = current_run.get()
        if record.levelno > logging.DEBUG:
            message = record.getMessage()
            masked = _EMAIL.sub("<email>", message)
            if masked != message:
                record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, connection, run_id, message."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON document."""
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "connection": getattr(record, "connection", "-"),
            "run_id": getattr(record, "run_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(log_format: LogFormat = "plain", level: str = "INFO",
                  stream: TextIO = sys.stdout) -> logging.Handler:
    """Send filebridge's (and APScheduler's warnings) to ``stream``; returns the handler."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_PLAIN))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "filebridge", False)]:
        root.removeHandler(old)
    handler.filebridge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every job start at INFO; our own task lines say more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler


class LogProgress:
    """A ``Progress`` that logs at most one line every ``every`` seconds (and each stage)."""

    def __init__(self, logger: logging.Logger, every: float = 30.0) -> None:
        self.logger, self.every = logger, every
        self.last_stage = ""
        self.last_time = 0.0

    def update(self, stage: str, done: int, total: int) -> None:
        """Log the stage when it changes or when ``every`` seconds have passed."""
        now = time.monotonic()
        if stage == self.last_stage and now - self.last_time < self.every:
            return
        self.last_stage, self.last_time = stage, now
        self.logger.info("progress: %s %d/%d", stage, done, total)
