"""Per-run change logs, written next to the run's reject file in the reports folder.

- ``run-N-changes.csv``: every change of the run's plan, one row per changed field of an
  update or a drift correction, one row per group membership added or removed
  (``group_add`` / ``group_remove``, field ``group``) and one row per person for the
  other actions
  (``employee_id, action, field, old, new, line``), formula cells neutralised like every
  exported CSV. For a planned or held run it is what the apply would change. A ``link``
  run lists each account it adopts (``adopt``, field ``employee_id``: the id the LMS
  account had, then the file's); a ``discard`` run changes nothing, so its list is the
  header alone.
- ``run-N-log.jsonl``: the run's log lines, one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pandas as pd

from filebridge.formats import CsvDialect, write_csv
from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import NoRunLog
from filebridge.pipeline.report import Adoptions, Progress
from filebridge.plan.model import Plan

CHANGE_LOG_COLUMNS = ("employee_id", "action", "field", "old", "new", "line")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def change_log_path(reports_dir: Path, run_id: int) -> Path:
    """Where run ``run_id``'s change list is written."""
    return reports_dir / f"run-{run_id}-changes.csv"


def run_log_path(reports_dir: Path, run_id: int) -> Path:
    """Where run ``run_id``'s log lines are written."""
    return reports_dir / f"run-{run_id}-log.jsonl"


def run_file(ctx: Context, run_id: int, kind: Literal["changes", "log"]) -> Path:
    """The change list (``changes``) or log (``log``) of run ``run_id``; raises ``NoRunLog``
    when it is not there."""
    run = ctx.ledger.get_run(run_id)
    where = ctx.reports_dir(run.connection)
    path = change_log_path(where, run_id) if kind == "changes" else run_log_path(where, run_id)
    if not path.is_file():
        raise NoRunLog(run_id=run_id, kind=kind, path=str(path))
    return path


def _people(frame: pd.DataFrame, action: str, field: str = "", old: str = "",
            new: str = "") -> pd.DataFrame:
    return pd.DataFrame({"employee_id": frame["employee_id"], "action": action, "field": field,
                         "old": old, "new": new, "line": frame["line"]}, index=frame.index)


def _memberships(frame: pd.DataFrame) -> pd.DataFrame:
    """Group changes as ``group_add`` / ``group_remove`` rows, the group in new / old."""
    adding = (frame["action"] == "add").to_numpy()
    names = frame["group"].astype(str).to_numpy(dtype=object)
    return pd.DataFrame({"employee_id": frame["employee_id"].astype(str).to_numpy(dtype=object),
                         "action": np.where(adding, "group_add", "group_remove"),
                         "field": "group", "old": np.where(adding, "", names),
                         "new": np.where(adding, names, ""),
                         "line": frame["line"].to_numpy(dtype=object)})


def _as_text(part: pd.DataFrame) -> pd.DataFrame:
    """A part's columns as text ("" when missing), the line as a whole number.

    Text columns stay Arrow strings: an initial load lists a million creates, and as
    Python objects they cost several times the memory of the plan they come from.
    """
    columns = {name: part[name].astype("str").fillna("") for name in CHANGE_LOG_COLUMNS[:-1]}
    lines = pd.to_numeric(part["line"], errors="coerce").astype("Int64")
    columns["line"] = lines.astype("str").fillna("")
    return pd.DataFrame(columns, index=part.index)


def change_rows(plan: Plan) -> pd.DataFrame:
    """The plan's changes as rows of ``CHANGE_LOG_COLUMNS`` (rehires first, as applied)."""
    rekeys = plan.rekeys.assign(action="rekey", field="employee_id").rename(
        columns={"old_employee_id": "old"})
    rekeys["new"] = rekeys["employee_id"]
    parts = [
        rekeys,
        _people(plan.creates, "create"),
        plan.updates.assign(action="update"),
        plan.drift.rename(columns={"lms": "old"}).assign(action="drift"),
        _people(plan.deactivations, "deactivate", "active", "true", "false"),
        _people(plan.reactivations, "reactivate", "active", "false", "true"),
        _people(plan.deletes, "delete"),
        _memberships(plan.groups),
    ]
    return pd.concat([_as_text(p.loc[:, list(CHANGE_LOG_COLUMNS)]) for p in parts],
                     ignore_index=True)


def adoption_rows(plan: Adoptions) -> pd.DataFrame:
    """A ``link`` run's adoptions as rows of ``CHANGE_LOG_COLUMNS``: the matches it adopts
    (blank note), each moving the LMS account's employee id to the file's."""
    adopted = [a for a in plan.adoptions if not a.note]
    return pd.DataFrame({"employee_id": [a.employee_id for a in adopted],
                         "action": "adopt", "field": "employee_id",
                         "old": [a.lms_employee_id if isinstance(a.lms_employee_id, str) else ""
                                 for a in adopted],
                         "new": [a.employee_id for a in adopted],
                         "line": [a.line for a in adopted]},
                        columns=list(CHANGE_LOG_COLUMNS), dtype=object)


def write_change_log(path: Path, plan: Plan | pd.DataFrame | None) -> Path:
    """Write a change list to ``path`` (atomically); returns ``path``. ``plan`` is a plan,
    rows of ``CHANGE_LOG_COLUMNS`` already made, or None for a run that changes nothing
    (the header alone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(plan, Plan):
        frame = change_rows(plan)
    else:
        given = pd.DataFrame(columns=list(CHANGE_LOG_COLUMNS)) if plan is None else plan
        frame = _as_text(given.loc[:, list(CHANGE_LOG_COLUMNS)])
    write_csv(path, frame, CsvDialect(),
              neutralize_formulas=("employee_id", "field", "old", "new"))
    return path


class RunLog(logging.Handler):
    """Collects the log lines of one run (this thread's, filebridge's loggers) and writes
    them as JSON Lines when the run ends. E-mail addresses above DEBUG are masked."""

    def __init__(self, connection: str) -> None:
        super().__init__(logging.INFO)
        self.connection = connection
        self.run_id: int | None = None
        self.lines: list[dict[str, Any]] = []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record when it comes from this run's thread."""
        if record.thread != self._thread:
            return
        self.lines.append({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "connection": self.connection, "run_id": self.run_id,
            "message": _EMAIL.sub("<email>", record.getMessage())})

    def note(self, message: str, level: str = "INFO") -> None:
        """Add a line of the pipeline's own (a stage, the outcome), whatever the log level."""
        self.lines.append({"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                           "level": level, "logger": "filebridge.pipeline",
                           "connection": self.connection, "run_id": self.run_id,
                           "message": message})

    def ended(self, run_id: int | None, state: str, counts: dict[str, Any]) -> None:
        """Note the run's outcome line (``run N state: counts``)."""
        self.run_id = run_id
        self.note(f"run {run_id} {state}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    def progress(self, inner: Progress) -> Progress:
        """``inner``, also noting each new stage in this log."""
        return _NotedProgress(self, inner)

    def __enter__(self) -> RunLog:
        logging.getLogger("filebridge").addHandler(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        logging.getLogger("filebridge").removeHandler(self)

    def write(self, path: Path) -> Path:
        """Write the collected lines to ``path`` (replaced atomically); returns ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.part")
        with part.open("w", encoding="utf-8") as out:
            for line in self.lines:
                out.write(json.dumps({**line, "run_id": self.run_id}, ensure_ascii=False)
                          + "\n")
            out.flush()
            os.fsync(out.fileno())
        part.replace(path)
        return path


@contextmanager
def run_logged(ctx: Context, connection: str) -> Iterator[RunLog]:
    """A ``RunLog`` for a run that reads no file of its own (discard, undo, link): once
    the run has an id (``log.run_id``), its log is written beside its report however
    the run ends, a failure noted as the last line."""
    with RunLog(connection) as log:
        try:
            yield log
        except BaseException as error:
            log.note(f"run failed: {type(error).__name__}: {error}", "ERROR")
            raise
        finally:
            if log.run_id is not None:
                log.write(run_log_path(ctx.reports_dir(connection), log.run_id))


class _NotedProgress:
    def __init__(self, log: RunLog, inner: Progress) -> None:
        self.log, self.inner, self.stage = log, inner, ""

    def update(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.stage = stage
            self.log.note(f"stage {stage}" + (f" ({total} rows)" if total else ""))
        self.inner.update(stage, done, total)
