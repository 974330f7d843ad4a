"""The ledger: every file received and every run, with its state, plan and report.

By default it lives in the same database as the built-in store, so that a run's
"applied" mark commits in the same transaction as the LMS changes it caused (see
``RunReceipt``). Everything above the ledger calls its methods; none sees a transaction.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.errors import Transient
from filebridge.ledger.daemon_state import DaemonState
from filebridge.ledger.errors import InvalidState, LockHolderAlive, UnknownFile, UnknownRun
from filebridge.ledger.exports import ExportLedger
from filebridge.ledger.holders import Holder
from filebridge.ledger.intents import Intents
from filebridge.ledger.locks import (
    Lock,
    LockState,
    connection_lock,
    lock_state,
    remove_dead_lock,
)
from filebridge.ledger.receipt import ReportOf, RunReceipt
from filebridge.ledger.retention import expire_run_details, mark_spool_removed
from filebridge.ledger.schema import (
    COMPONENT,
    FILE_STATES,
    MIGRATIONS,
    RUN_KINDS,
    RUN_MODES,
    RUN_STATES,
    files,
    runs,
)
from filebridge.ledger.web_accounts import WebAccounts
from filebridge.sql import location, migrate, open_engine, reading

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class FileRecord:
    """One received file. ``duplicate_of`` names an applied file with the same content."""

    id: int
    connection: str
    name: str
    sha256: str
    size: int
    spool_path: str
    received_at: datetime
    state: str
    export_time: datetime | None = None
    duplicate_of: int | None = None
    moved_to: str | None = None  # archive/ or rejected/ path of a picked-up original
    spool_removed_at: datetime | None = None  # when retention removed the spool copy


@dataclass(frozen=True)
class RunRecord:
    """One run. ``report`` is None in listings unless asked for (it holds the whole plan)."""

    id: int
    connection: str
    kind: str
    file_id: int | None
    mode: str
    state: str
    holder: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    report: dict[str, Any] | None
    error: dict[str, Any] | None
    about_run: int | None = None  # approve/discard: the held run; undo: the run undone
    actor: str | None = None  # who started it by hand (user name), None for scheduled runs


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "item"):  # numpy and pandas scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in the ledger")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_value)


# The key of a run's counts that holds its brakes' managed count while it applies.
APPLYING = "managed_when_applying"


def _check(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidState(what, value, allowed)


def current_holder() -> str:
    """This process as stored in ``runs.holder`` (``host:pid:start:boot``, see ``holders``)."""
    return Holder.current().render()


def _gone(holder: str) -> bool:
    # Only a process on this host can be checked; a run held elsewhere stays running.
    process = Holder.parse(holder)
    if process is None:
        return True
    if process.pid == os.getpid() and process.host == Holder.current().host:
        return True  # recovery runs at start-up, before any run of this process
    return process.alive() is False

class Ledger:
    """Files and runs of every connection, in the state database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.location = location(engine)
        self._borrowed = False
        self._held: dict[str, Lock] = {}  # the connection locks this process holds now

    @classmethod
    def open(cls, url: str, password: str | None = None, *, beside: Any = None) -> Ledger:
        """The ledger at ``url``; ``beside`` (the built-in store) lends its engine when the
        ledger shares its database, so both commit in one transaction."""
        engine = getattr(beside, "engine", None)
        if engine is None:
            return cls(open_engine(url, password=password))
        ledger = cls(engine)
        ledger._borrowed = True  # the store owns the engine and closes it
        return ledger

    def migrate(self) -> list[str]:
        """Create or upgrade the ledger's tables; returns the migrations applied now."""
        return migrate(self.engine, COMPONENT, MIGRATIONS)

    def close(self) -> None:
        """Release database connections (unless the engine is the store's)."""
        if not self._borrowed:
            self.engine.dispose()

    @contextmanager
    def lock(self, connection: str, *, wait_seconds: float = 0.0) -> Iterator[Lock]:
        """Hold ``connection``'s lock for a block (one run per connection at a time)."""
        with connection_lock(self.engine, connection, wait_seconds=wait_seconds) as held:
            self._held[connection] = held
            try:
                yield held
            finally:
                self._held.pop(connection, None)

    def held_lock(self, connection: str) -> Lock | None:
        """The lock of ``connection`` this process holds now, if any."""
        return self._held.get(connection)

    def lock_state(self, connection: str) -> LockState | None:
        """Who holds ``connection``'s run lock, and whether that process is alive."""
        return lock_state(self.engine, connection)

    def unlock(self, connection: str) -> list[LockState]:
        """Remove the locks of ``connection`` (its run and pickup locks) left by dead
        holders; the removed ones. ``LockHolderAlive`` names a holder still running."""
        states = [s for s in (lock_state(self.engine, name) for name in
                              (connection, f"{connection}/pickup")) if s is not None]
        for state in states:
            if state.alive:
                raise LockHolderAlive(state.connection, state.describe(),
                                      f"{state.acquired_at:%Y-%m-%d %H:%M:%S} UTC")
        return [s for s in states if remove_dead_lock(self.engine, s.connection, s.holder)]

    @cached_property
    def daemon_state(self) -> DaemonState:
        """The daemon's task records, alerts and heartbeats."""
        return DaemonState(self.engine)

    @cached_property
    def web_accounts(self) -> WebAccounts:
        """Users, sessions, failed logins and the action log of the admin pages."""
        return WebAccounts(self.engine)

    @cached_property
    def intents(self) -> Intents:
        """Apply intents of runs whose LMS changes commit in another database."""
        return Intents(self)

    @cached_property
    def exports(self) -> ExportLedger:
        """Pending and delivered exports and their watermarks."""
        return ExportLedger(self.engine)

    def receipt(self, run_id: int, file_id: int | None,
                report: ReportOf, at: datetime, *,
                approves: int | None = None, connection: str | None = None,
                events: pd.DataFrame | None = None) -> RunReceipt:
        """The applied mark of a run, for an LMS target to write with its changes;
        ``connection``: the run's, whose lock the receipt checks before a commit;
        ``events``: its per-person row events, written with the mark."""
        return RunReceipt(self, run_id, file_id, report, approves=approves, at=at,
                          connection=connection, events=events)

    def discard(self, held_run: int, discard_run: int, report: dict[str, Any],
                now: datetime) -> None:
        """Mark ``held_run`` discarded and finish the ``discard`` run, in one transaction."""
        with self.engine.begin() as tx:
            self.set_run_state(held_run, "discarded", tx=tx)
            self.finish_run(discard_run, "applied", {}, report, None, now, tx=tx)

    def confirm_export(self, run_id: int, state: str, counts: dict[str, Any],
                       report: dict[str, Any], now: datetime) -> None:
        """An export's files are delivered: mark it, move its watermark and finish its run,
        in one transaction (a second confirmation moves nothing twice)."""
        with self.engine.begin() as tx:
            self.exports.mark_delivered(tx, run_id, now)
            self.finish_run(run_id, state, counts, report, None, now, tx=tx)

    def finish_export_without_files(self, connection: str, run_id: int,
                                    watermark: int | None, state: str, counts: dict[str, Any],
                                    report: dict[str, Any], now: datetime) -> None:
        """An export with nothing to send: move the watermark (if any) and finish the run."""
        with self.engine.begin() as tx:
            if watermark is not None:
                self.exports.advance(tx, connection, watermark, now)
            self.finish_run(run_id, state, counts, report, None, now, tx=tx)

    @contextmanager
    def _writing(self, tx: Connection | None) -> Iterator[Connection]:
        if tx is not None:
            yield tx
        else:
            with self.engine.begin() as own:
                yield own

    # -- files -----------------------------------------------------------------

    def record_file(self, connection: str, name: str, sha256: str, size: int,
                    spool_path: str, now: datetime) -> FileRecord:
        """Record a received file; ``duplicate_of`` is set when its content was applied before."""
        with self.engine.begin() as tx:
            duplicate_of = tx.scalar(sa.select(sa.func.min(files.c.id)).where(
                files.c.connection == connection, files.c.sha256 == sha256,
                files.c.state == "applied"))
            file_id = tx.scalar(files.insert().values(
                connection=connection, name=name, sha256=sha256, size=size,
                spool_path=spool_path, received_at=now, state="received",
                duplicate_of=duplicate_of).returning(files.c.id))
        return self.get_file(int(file_id))

    def find_applied(self, connection: str, sha256: str) -> FileRecord | None:
        """The first applied file of ``connection`` with this content, if any."""
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(files).where(
                files.c.connection == connection, files.c.sha256 == sha256,
                files.c.state == "applied").order_by(files.c.id).limit(1)).first()
        return FileRecord(**row._mapping) if row else None

    def get_file(self, file_id: int) -> FileRecord:
        """The file with this id; ``UnknownFile`` if there is none."""
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(files).where(files.c.id == file_id)).first()
        if row is None:
            raise UnknownFile(file_id, self.location)
        return FileRecord(**row._mapping)

    def set_file_state(self, file_id: int, state: str, tx: Connection | None = None) -> None:
        """Move a file to ``state``, inside ``tx`` when given."""
        _check("file state", state, FILE_STATES)
        with self._writing(tx) as conn:
            found = conn.execute(files.update().where(files.c.id == file_id)
                                 .values(state=state)).rowcount
        if not found:
            raise UnknownFile(file_id, self.location)

    def set_file_moved_to(self, file_id: int, path: str) -> None:
        """Record where a picked-up original was moved (archive/ or rejected/)."""
        with self.engine.begin() as conn:
            found = conn.execute(files.update().where(files.c.id == file_id)
                                 .values(moved_to=path)).rowcount
        if not found:
            raise UnknownFile(file_id, self.location)

    def expire_run_details(self, connection: str, before: datetime, dry_run: bool = False
                           ) -> list[int]:
        """Cut the reports of runs started before ``before`` to hashes, counts and dates."""
        return expire_run_details(self.engine, connection, before, dry_run)

    def mark_spool_removed(self, connection: str, spool_paths: list[str], at: datetime
                           ) -> int:
        """Record that retention removed these spool copies of ``connection``'s files;
        returns how many file records name them."""
        return mark_spool_removed(self.engine, connection, spool_paths, at)

    def expire_person_events(self, connection: str, before: datetime,
                             dry_run: bool = False) -> int:
        """Cut the row events of runs started before ``before`` to kind, code and line."""
        from filebridge.ledger.person_events import expire_events

        return expire_events(self.engine, connection, before, dry_run)

    def files(self, connection: str | None = None, limit: int = 50) -> list[FileRecord]:
        """Files newest first, optionally of one connection."""
        stmt = sa.select(files).order_by(files.c.id.desc()).limit(limit)
        if connection is not None:
            stmt = stmt.where(files.c.connection == connection)
        with reading(self.engine) as conn:
            return [FileRecord(**r._mapping) for r in conn.execute(stmt)]

    # -- runs ------------------------------------------------------------------

    def start_run(self, connection: str, kind: str, mode: str, file_id: int | None,
                  now: datetime, about_run: int | None = None,
                  actor: str | None = None) -> int:
        """Record a run as ``running`` and return its id; ``actor``: who started it."""
        _check("run kind", kind, RUN_KINDS)
        _check("run mode", mode, RUN_MODES)
        with self.engine.begin() as tx:
            run_id = tx.scalar(runs.insert().values(
                connection=connection, kind=kind, mode=mode, file_id=file_id,
                state="running", holder=current_holder(), started_at=now,
                counts="{}", about_run=about_run, actor=actor).returning(runs.c.id))
        return int(run_id)

    def set_run_state(self, run_id: int, state: str, tx: Connection | None = None) -> None:
        """Move a finished run to ``state`` (a held run to approved or discarded)."""
        _check("run state", state, RUN_STATES)
        with self._writing(tx) as conn:
            found = conn.execute(runs.update().where(runs.c.id == run_id)
                                 .values(state=state)).rowcount
        if not found:
            raise UnknownRun(run_id, self.location)

    def set_file_export_time(self, file_id: int, export_time: datetime) -> None:
        """Record the export's own date (from its name or contents) for staleness checks."""
        with self.engine.begin() as conn:
            conn.execute(files.update().where(files.c.id == file_id)
                         .values(export_time=export_time))

    def newest_applied_export(self, connection: str) -> FileRecord | None:
        """The applied file of ``connection`` with the latest export time, if any has one."""
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(files).where(
                files.c.connection == connection, files.c.state == "applied",
                files.c.export_time.is_not(None))
                .order_by(files.c.export_time.desc(), files.c.id.desc()).limit(1)).first()
        return FileRecord(**row._mapping) if row else None

    def finish_run(self, run_id: int, state: str, counts: dict[str, Any],
                   report: dict[str, Any], error: dict[str, Any] | None, now: datetime,
                   tx: Connection | None = None, events: pd.DataFrame | None = None) -> None:
        """Record how a run ended, inside ``tx`` when given (atomic with the LMS changes);
        ``events``: its per-person row events (``person_events.EVENT_COLUMNS``), written
        in the same transaction."""
        _check("run state", state, RUN_STATES)
        values = {"state": state, "finished_at": now, "counts": _dumps(counts),
                  "report": _dumps(report), "error": None if error is None else _dumps(error)}
        with self._writing(tx) as conn:
            found = conn.execute(runs.update().where(runs.c.id == run_id).values(values)).rowcount
            if not found:
                raise UnknownRun(run_id, self.location)
            if events is not None and not events.empty:
                from filebridge.ledger.person_events import write_events  # loads pandas

                connection = conn.scalar(sa.select(runs.c.connection).where(runs.c.id == run_id))
                write_events(conn, str(connection), run_id, events)

    def person_events(self, connection: str, employee_ids: list[str],
                      since: datetime | None = None) -> pd.DataFrame:
        """Rejects, skips, filters and held changes of these people, by run and line."""
        from filebridge.ledger.person_events import events_of  # loads pandas

        return events_of(self.engine, connection, employee_ids, since)

    def has_person_events(self, connection: str, employee_id: str) -> bool:
        """True when a run recorded a row event for this employee id of ``connection``."""
        from filebridge.ledger.person_events import has_events

        return has_events(self.engine, connection, employee_id)

    def fail_run(self, run_id: int, error: dict[str, Any], now: datetime) -> bool:
        """Mark a run that ended with an exception ``failed`` with the reason, unless it
        finished meanwhile (an applied mark committed stays); retried while the database
        is busy, since a run left ``running`` would look alive. False if not changed."""
        for pause in (0.5, 2.0, 5.0, None):
            try:
                with self.engine.begin() as tx:
                    return bool(tx.execute(runs.update().where(
                        runs.c.id == run_id, runs.c.state == "running").values(
                        state="failed", finished_at=now, error=_dumps(error))).rowcount)
            except Transient:
                if pause is None:
                    raise
                time.sleep(pause)
        return False

    def note_applying(self, run_id: int, managed: int) -> None:
        """Record, as an import starts changing the LMS, how many managed people its brakes
        judged it against (kept in its counts until it finishes)."""
        with self.engine.begin() as tx:
            tx.execute(runs.update().where(runs.c.id == run_id).values(
                counts=_dumps({APPLYING: managed})))

    def applying_note(self, run_id: int) -> dict[str, int]:
        """What ``note_applying`` recorded on ``run_id`` (empty without it), for whatever
        finishes the run as failed: its rerun is judged by it (``unfinished_apply``)."""
        with reading(self.engine) as conn:
            text = conn.scalar(sa.select(runs.c.counts).where(runs.c.id == run_id))
        managed = (json.loads(text or "{}") or {}).get(APPLYING)
        return {APPLYING: managed} if isinstance(managed, int) else {}

    def unfinished_apply(self, connection: str, before: int, sha256: str) -> int | None:
        """When the last import applied on ``connection`` before run ``before`` began
        changing the LMS with this same content (``sha256``) and never finished (killed,
        or the LMS went away): how many managed people its brakes judged it against."""
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(runs.c.state, runs.c.counts, files.c.sha256)
                               .select_from(runs.outerjoin(files, files.c.id == runs.c.file_id))
                               .where(runs.c.connection == connection, runs.c.id < before,
                                      runs.c.kind == "import", runs.c.mode == "apply")
                               .order_by(runs.c.id.desc()).limit(1)).first()
        if row is None or row.state not in ("failed", "running") or row.sha256 != sha256:
            return None
        managed = (json.loads(row.counts or "{}") or {}).get(APPLYING)
        return managed if isinstance(managed, int) else None

    def get_run(self, run_id: int) -> RunRecord:
        """The run with this id, report included; ``UnknownRun`` if there is none."""
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise UnknownRun(run_id, self.location)
        return self._run(row._mapping, with_report=True)

    def runs(self, connection: str | None = None, limit: int = 50, *,
             with_report: bool = False) -> list[RunRecord]:
        """Runs newest first, optionally of one connection; reports only if asked for."""
        columns = [c for c in runs.c if with_report or c.name != "report"]
        stmt = sa.select(*columns).order_by(runs.c.id.desc()).limit(limit)
        if connection is not None:
            stmt = stmt.where(runs.c.connection == connection)
        with reading(self.engine) as conn:
            return [self._run(r._mapping, with_report) for r in conn.execute(stmt)]

    def runs_touching(self, connection: str, run_ids: list[int]) -> list[RunRecord]:
        """Runs of ``connection`` with these ids, the runs they act on, and the runs acting
        on them (undo, approve, discard), oldest first; reports are left out."""
        columns = [c for c in runs.c if c.name != "report"]
        wanted = set(run_ids)
        with reading(self.engine) as conn:
            about = {r[0] for r in conn.execute(sa.select(runs.c.about_run).where(
                runs.c.id.in_(wanted), runs.c.about_run.is_not(None)))}
            stmt = sa.select(*columns).where(runs.c.connection == connection, sa.or_(
                runs.c.id.in_(wanted | about), runs.c.about_run.in_(wanted | about)))
            return [self._run(r._mapping, False)
                    for r in conn.execute(stmt.order_by(runs.c.id))]

    def files_by_id(self, file_ids: list[int]) -> dict[int, FileRecord]:
        """These files by id (unknown ids are left out)."""
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(files).where(files.c.id.in_(file_ids)))
            return {r.id: FileRecord(**r._mapping) for r in rows}

    @staticmethod
    def _run(row: Any, with_report: bool) -> RunRecord:
        def load(text: str | None) -> Any:
            return None if text is None else json.loads(text)

        values = dict(row)
        values["counts"] = load(values["counts"]) or {}
        values["report"] = load(values.get("report")) if with_report else None
        values["error"] = load(values["error"])
        return RunRecord(**values)

    def recover(self, now: datetime) -> list[int]:
        """Mark runs whose process died (left ``running``) as ``failed``; returns their ids.

        Called at start-up. A run whose holder is still alive on this host, or runs
        on another host, is left alone.
        """
        with self.engine.begin() as tx:
            stale = [r.id for r in tx.execute(sa.select(runs.c.id, runs.c.holder)
                                              .where(runs.c.state == "running"))
                     if _gone(r.holder)]
            if stale:
                tx.execute(runs.update().where(runs.c.id.in_(stale)).values(
                    state="failed", finished_at=now, error=_dumps({"code": "interrupted"})))
        return stale
