"""The live progress line of a long run, on a terminal only.

The pipeline reports values through ``Progress.update(stage, done, total)``; this is the
CLI's rendering of them. rich redraws the line several times a second from its own
thread, so the elapsed time and the rate keep moving through a long stage (an apply of
300,000 rows is one stage for the pipeline). The line shows the stage, the file's rows,
rows per second over the run so far and the elapsed time; it is removed when the run
ends, leaving the report. Nothing is drawn when stderr is not a terminal, and rich
drops colour when ``NO_COLOR`` is set.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from filebridge.cli.style import colour_allowed


class _Rows(ProgressColumn):
    """The file's rows, once they are known."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        return Text(f"{rows:>12,} rows" if rows else " " * 17)


class _Rate(ProgressColumn):
    """Rows per second over the run so far."""

    def render(self, task: Task) -> Text:
        rows, elapsed = int(task.fields.get("rows", 0)), task.elapsed or 0.0
        return Text(f"{rows / elapsed:,.0f} rows/s" if rows and elapsed > 0.05 else "")


class LiveProgress:
    """A ``Progress`` for the CLI: use as a context manager around the run."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.rows = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._stage = ""

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def update(self, stage: str, done: int, total: int) -> None:
        """Show ``stage``; ``total`` above one is the file's row count."""
        if not self.enabled:
            return
        self.rows = max(self.rows, total if total > 1 else 0)
        if self._bar is None:
            console = Console(file=self.stream, no_color=not colour_allowed(self.stream),
                              highlight=False)
            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description:<6}"),
                                 _Rows(), _Rate(),
                                 TimeElapsedColumn(), console=console, transient=True,
                                 refresh_per_second=4)
            self._bar.start()
            self._task = self._bar.add_task(stage, total=None, rows=self.rows)
        assert self._task is not None
        # A new stage is drawn at once: a stage shorter than the quarter-second refresh
        # (a quick plan) would otherwise never be seen in the sequence of stages.
        self._bar.update(self._task, description=stage, rows=self.rows,
                         refresh=stage != self._stage)
        self._stage = stage
        if stage == "done":
            self.close()

    def close(self) -> None:
        """Remove the line (also after an error)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
