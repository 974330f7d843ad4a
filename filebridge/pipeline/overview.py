"""What people look at and act on, as values: runs by filter, one run in detail, nights
in numbers, a replay that shows its plan first, and what a busy connection is doing.

The admin pages and any script use these; none of them knows about HTML.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from filebridge.ledger.queries import RunFilter, applied_runs, running_runs, search_runs
from filebridge.pipeline.changelog import change_log_path, run_log_path
from filebridge.pipeline.context import Context
from filebridge.pipeline.history import find_file, run_detail, split_counts
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.pipeline.report import RunReport

Confirm = Callable[[RunReport], bool]
CHANGES = ("create", "update", "deactivate", "reactivate", "delete")


@dataclass(frozen=True)
class HistoryPage:
    """One page of the run history: rows (as ``history --json`` has them) and paging."""

    rows: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the filter has (at least one)."""
        return max(1, -(-self.total // self.per_page))


def history_page(ctx: Context, where: RunFilter, page: int = 1,
                 per_page: int = 50) -> HistoryPage:
    """Runs matching ``where``, newest first, page ``page`` (1-based) of ``per_page``."""
    page = max(1, page)
    found = search_runs(ctx.ledger, where, (page - 1) * per_page, per_page)
    rows = []
    for r in found.runs:
        counts, managed = split_counts(r.counts)
        rows.append({"run_id": r.id, "connection": r.connection, "kind": r.kind,
                     "mode": r.mode, "state": r.state, "started_at": r.started_at,
                     "finished_at": r.finished_at, "file_id": r.file_id,
                     "file": found.file_names.get(r.file_id or -1), "counts": counts,
                     "managed_when_applying": managed, "about_run": r.about_run})
    return HistoryPage(rows, page, per_page, found.total)


@dataclass(frozen=True)
class RunView:
    """One run for people: the ``show --json`` document plus what can be done with it."""

    detail: dict[str, Any]
    reject_file: Path | None  # the reject CSV, when it exists inside the reports folder
    held: bool
    change_log: Path | None = None  # the run's change list (CSV), when it is there
    run_log: Path | None = None  # the run's log lines (JSON Lines), when they are there

    @property
    def report(self) -> dict[str, Any]:
        """The run's stored report (plan, problems, holds)."""
        return dict(self.detail.get("report") or {})

    @property
    def rejected(self) -> list[dict[str, Any]]:
        """Rejected rows and file problems: line, column, value, code, message."""
        return [p for p in self.report.get("problems", []) if p.get("severity") != "warning"]


def run_view(ctx: Context, run_id: int) -> RunView:
    """The run ``run_id`` with its report, its reject file and whether it is held."""
    detail = run_detail(ctx, run_id).to_dict()
    reject = detail["report"].get("reject_file") if detail.get("report") else None
    reports = ctx.reports_dir(detail["connection"])
    changes, log = change_log_path(reports, run_id), run_log_path(reports, run_id)
    return RunView(detail, contained(reports, reject), detail["state"] == "held",
                   changes if changes.is_file() else None, log if log.is_file() else None)


def contained(folder: Path, name: str | None) -> Path | None:
    """``name`` as an existing file inside ``folder``, or None (never a path outside it)."""
    if not name:
        return None
    root = folder.resolve()
    path = Path(name).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def plan_digest(report: RunReport | dict[str, Any]) -> str:
    """A short fingerprint of a plan, so a confirmation applies only the plan that was shown."""
    plan = report.plan if isinstance(report, RunReport) else report.get("plan", {})
    text = json.dumps(plan, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def changes_nothing(report: RunReport) -> bool:
    """True when the planned run would not change anyone."""
    return not any(report.counts.get(k) for k in CHANGES)


def replay_file(ctx: Context, ref: str, confirm: Confirm | None = None, *,
                force: bool = False, lock_wait: float = 0.0, actor: str | None = None
                ) -> RunReport:
    """Re-run a ledger file (by id or same-content path) against the LMS as it is now.

    ``confirm`` sees the plan first; declining records the run as planned, nothing applied.
    """
    connection, spooled, name = find_file(ctx, ref)
    return run_import(ctx, connection, spooled, RunOptions(
        "apply", replay=True, force=force, kind="replay", name=name, confirm=confirm,
        lock_wait=lock_wait, actor=actor))


def busy_with(ctx: Context, connection: str) -> list[dict[str, Any]]:
    """The runs a busy connection is doing now: id, kind, file id, since when."""
    return [{"run_id": r.id, "kind": r.kind, "file_id": r.file_id,
             "started_at": r.started_at.isoformat(), "holder": r.holder}
            for r in running_runs(ctx.ledger, connection)]


@dataclass(frozen=True)
class Night:
    """One night of a connection: people in its file and the changes applied."""

    day: date
    people: int
    changes: int
    runs: list[int] = field(default_factory=list)


def nights(ctx: Context, connection: str, days: int = 30,
           now: datetime | None = None) -> list[Night]:
    """Applied imports of the last ``days`` days, one entry per day that had any (UTC).

    ``people`` is the largest file of the day (rows read); ``changes`` adds up every
    create, update, deactivation, reactivation and delete applied that day.
    """
    now = now or datetime.now(UTC)
    since = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
    by_day: dict[date, Night] = {}
    for run in applied_runs(ctx.ledger, connection, since):
        day = run.started_at.astimezone(UTC).date()
        changed = sum(int(run.counts.get(k, 0) or 0) for k in CHANGES)
        seen = by_day.get(day)
        by_day[day] = Night(day, max(run.rows, seen.people if seen else 0),
                            changed + (seen.changes if seen else 0),
                            [*(seen.runs if seen else []), run.run_id])
    return [by_day[d] for d in sorted(by_day)]
