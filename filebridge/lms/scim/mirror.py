"""The mirror of a SCIM target, kept in filebridge's own state database.

An external LMS has no transaction to share with the ledger, so two tables stand in:

- ``scim_mirror``: per connection, each person filebridge put into the LMS: employee id,
  SCIM id, fingerprint, active, the canonical fields as sent. It changes only from
  confirmed outcomes, and it is all the fast plan reads: no LMS listing per night.
- ``scim_journal``: every change of every run: ``sent`` before the request leaves,
  then ``confirmed`` or ``failed`` (with the server's reason). A row still ``sent`` when
  a run ends means the run died in between; the next run looks those people up by
  ``externalId`` before creating anyone, then marks the row ``lost``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.sql import Migration, execute_many, fetch_raw, reading

COMPONENT = "lms-scim"
JOURNAL_STATES = ("sent", "confirmed", "failed", "lost")
# Fingerprint of a person whose last change was only partly confirmed (a manager that
# could not be set yet): no file's fingerprint matches it, so the next plan looks again.
UNSETTLED = 0

metadata = sa.MetaData()

mirror = sa.Table(
    "scim_mirror", metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    sa.Column("employee_id", sa.Text, primary_key=True),
    sa.Column("scim_id", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    # The canonical fields as last confirmed by the server, one JSON object.
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_scim_mirror_scim_id", "connection", "scim_id"),
)

journal = sa.Table(
    "scim_journal", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('sent', 'confirmed', 'failed', 'lost')",
                       name="ck_scim_journal_state"),
    sa.Index("ix_scim_journal_open", "connection", "state"),
    sa.Index("ix_scim_journal_run", "run_id", "employee_id"),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS: list[Migration] = [("0001_scim_mirror_and_journal", _create)]


@dataclass(frozen=True)
class Entry:
    """One mirrored person."""

    employee_id: str
    scim_id: str
    fingerprint: int
    active: bool
    fields: dict[str, str]


class Mirror:
    """Reads and writes of the mirror and the journal, over the state database's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads -------------------------------------------------------------------------

    def snapshot(self, connection: str) -> pd.DataFrame:
        """``employee_id``, ``fingerprint`` (int64), ``active`` (bool) of one connection."""
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, sa.select(mirror.c.employee_id, mirror.c.fingerprint,
                                             mirror.c.active)
                             .where(mirror.c.connection == connection))
        frame = pd.DataFrame(rows, columns=["employee_id", "fingerprint", "active"])
        return frame.astype({"employee_id": "str", "fingerprint": "int64", "active": "bool"})

    def entries(self, connection: str | None, ids: Iterable[str] | None = None
                ) -> dict[str, Entry]:
        """Mirrored people by employee id (one connection's, or everyone's with None)."""
        stmt = sa.select(mirror.c.employee_id, mirror.c.scim_id, mirror.c.fingerprint,
                         mirror.c.active, mirror.c.fields, mirror.c.connection)
        if connection is not None:
            stmt = stmt.where(mirror.c.connection == connection)
        out: dict[str, Entry] = {}
        wanted = None if ids is None else list(dict.fromkeys(ids))
        with reading(self.engine) as conn:
            parts = [stmt] if wanted is None else [
                stmt.where(mirror.c.employee_id.in_(wanted[i:i + 900]))
                for i in range(0, len(wanted), 900)]
            for part in parts:
                for eid, sid, fp, active, fields, _ in fetch_raw(conn, part):
                    out[eid] = Entry(eid, sid, int(fp), bool(active), json.loads(fields))
        return out

    def frame(self, connection: str | None) -> pd.DataFrame:
        """Every mirrored person with the connection, SCIM id, state and fields."""
        stmt = sa.select(mirror.c.connection, mirror.c.employee_id, mirror.c.scim_id,
                         mirror.c.active, mirror.c.fields, mirror.c.updated_at,
                         mirror.c.deactivated_at).order_by(mirror.c.connection,
                                                           mirror.c.employee_id)
        if connection is not None:
            stmt = stmt.where(mirror.c.connection == connection)
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, stmt)
        return pd.DataFrame(rows, columns=["connection", "employee_id", "scim_id", "active",
                                           "fields", "updated_at", "deactivated_at"])

    def deactivated_before(self, connection: str, cutoff: datetime) -> frozenset[str]:
        """Inactive people deactivated before ``cutoff``."""
        with reading(self.engine) as conn:
            return frozenset(conn.scalars(sa.select(mirror.c.employee_id).where(
                mirror.c.connection == connection, mirror.c.active.is_(False),
                mirror.c.deactivated_at < cutoff)))

    def open_changes(self, connection: str) -> dict[str, list[str]]:
        """People whose change was sent by a run that died before the answer, by action."""
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, sa.select(journal.c.employee_id, journal.c.action)
                             .where(journal.c.connection == connection,
                                    journal.c.state == "sent"))
        out: dict[str, list[str]] = {}
        for eid, action in rows:
            out.setdefault(action, []).append(eid)
        return out

    def sent_in_run(self, connection: str, run_id: int) -> set[tuple[str, str]]:
        """(employee id, action) pairs this run has already sent."""
        with reading(self.engine) as conn:
            return {(e, a) for e, a in fetch_raw(conn, sa.select(
                journal.c.employee_id, journal.c.action).where(
                journal.c.connection == connection, journal.c.run_id == run_id))}

    def journal_rows(self, connection: str, run_id: int | None = None) -> pd.DataFrame:
        """The journal of one connection (one run's with ``run_id``), oldest first."""
        stmt = sa.select(journal.c.run_id, journal.c.employee_id, journal.c.action,
                         journal.c.state, journal.c.reason, journal.c.detail).where(
            journal.c.connection == connection).order_by(journal.c.id)
        if run_id is not None:
            stmt = stmt.where(journal.c.run_id == run_id)
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, stmt)
        return pd.DataFrame(rows, columns=["run_id", "employee_id", "action", "state",
                                           "reason", "detail"])

    # -- writes ------------------------------------------------------------------------

    def intend(self, connection: str, run_id: int | None, changes: Sequence[tuple[str, str]],
               now: datetime) -> None:
        """Record (employee id, action) pairs as ``sent``, before they are sent."""
        if not changes:
            return
        with self.engine.begin() as tx:
            execute_many(tx, journal.insert(), {
                "employee_id": [c[0] for c in changes], "action": [c[1] for c in changes]},
                {"connection": connection, "run_id": run_id, "state": "sent", "reason": "",
                 "detail": "", "at": now})

    def settle(self, connection: str, run_id: int | None, outcomes: Sequence[Outcome],
               now: datetime) -> None:
        """Write the answers of sent changes: journal states and the mirror, in one go."""
        if not outcomes:
            return
        with self.engine.begin() as tx:
            stmt = (sa.update(journal).where(
                journal.c.connection == connection,
                journal.c.run_id.is_(None) if run_id is None else journal.c.run_id == run_id,
                journal.c.employee_id == sa.bindparam("p_eid"),
                journal.c.action == sa.bindparam("p_action"), journal.c.state == "sent")
                .values(state=sa.bindparam("p_state"), reason=sa.bindparam("p_reason"),
                        detail=sa.bindparam("p_detail"), at=now))
            execute_many(tx, stmt, {
                "p_eid": [o.employee_id for o in outcomes],
                "p_action": [o.action for o in outcomes],
                "p_state": ["confirmed" if o.confirmed else "failed" for o in outcomes],
                "p_reason": [o.reason for o in outcomes],
                "p_detail": [o.detail[:2000] for o in outcomes]})
            for o in outcomes:
                if o.confirmed and o.entry is not None:
                    self._put(tx, connection, o.entry, now)
                elif o.confirmed and o.action == "delete":
                    tx.execute(sa.delete(mirror).where(mirror.c.connection == connection,
                                                       mirror.c.employee_id == o.employee_id))

    def close_lost(self, connection: str, employee_ids: Iterable[str], now: datetime) -> None:
        """Mark changes a dead run left ``sent`` as ``lost`` (they have been looked up)."""
        ids = list(employee_ids)
        if not ids:
            return
        with self.engine.begin() as tx:
            execute_many(tx, sa.update(journal).where(
                journal.c.connection == connection, journal.c.state == "sent",
                journal.c.employee_id == sa.bindparam("p_eid")).values(state="lost", at=now),
                {"p_eid": ids})

    def adopt(self, connection: str, entries: Sequence[Entry], now: datetime) -> None:
        """Put entries found in the LMS into the mirror (recovery and ``verify --repair``)."""
        with self.engine.begin() as tx:
            for entry in entries:
                self._put(tx, connection, entry, now)

    def forget(self, connection: str, employee_ids: Iterable[str]) -> None:
        """Drop people from the mirror (gone from the LMS)."""
        ids = list(employee_ids)
        with self.engine.begin() as tx:
            for i in range(0, len(ids), 900):
                tx.execute(sa.delete(mirror).where(mirror.c.connection == connection,
                                                   mirror.c.employee_id.in_(ids[i:i + 900])))

    @staticmethod
    def _put(tx: Connection, connection: str, entry: Entry, now: datetime) -> None:
        where = (mirror.c.connection == connection, mirror.c.employee_id == entry.employee_id)
        old = tx.execute(sa.select(mirror.c.active, mirror.c.deactivated_at).where(*where)
                         ).first()
        deactivated = None if entry.active else (
            old.deactivated_at if old is not None and not old.active else now)
        values: dict[str, Any] = {
            "scim_id": entry.scim_id, "fingerprint": entry.fingerprint,
            "active": entry.active, "fields": json.dumps(entry.fields, sort_keys=True),
            "updated_at": now, "deactivated_at": deactivated}
        if old is None:
            tx.execute(mirror.insert().values(connection=connection,
                                              employee_id=entry.employee_id, **values))
        else:
            tx.execute(sa.update(mirror).where(*where).values(**values))

    def rename(self, connection: str, old_id: str, new_id: str) -> None:
        """Re-key a mirrored person (a rehire under a new employee id)."""
        with self.engine.begin() as tx:
            tx.execute(sa.update(mirror).where(mirror.c.connection == connection,
                                               mirror.c.employee_id == old_id)
                       .values(employee_id=new_id))


@dataclass(frozen=True)
class Outcome:
    """The answer to one sent change; ``entry`` is the person's mirror row after it."""

    employee_id: str
    action: str
    confirmed: bool
    reason: str = ""
    detail: str = ""
    entry: Entry | None = None


def as_records(entries: Mapping[str, Entry]) -> dict[str, dict[str, str]]:
    """Employee id → fields, for the planners that read the mirror."""
    return {eid: e.fields for eid, e in entries.items()}
