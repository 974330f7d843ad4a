"""The mirror of a Moodle target, kept in filebridge's own state database.

Moodle has no transaction to share with the ledger, so two tables stand in:

- ``moodle_mirror``: per (connection, employee id), the Moodle user id, fingerprint,
  active, and the canonical fields as last confirmed. It changes only from confirmed
  outcomes, and it is all the plan reads: no listing of Moodle per night.
- ``moodle_journal``: every change of every run: ``sent`` before the request leaves,
  then ``confirmed`` or ``failed`` (with Moodle's words). A row still ``sent`` when a
  run ends means the run died in between; the next run looks those people up by
  ``idnumber`` before planning, adopts what Moodle has, and marks the row ``lost``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.sql import Migration, execute_many, fetch_raw, reading

COMPONENT = "lms-moodle"
# Fingerprint of a person adopted after a lost answer: no file's fingerprint matches
# it, so the next plan compares every field with what Moodle holds.
UNSETTLED = 0

metadata = sa.MetaData()

mirror = sa.Table(
    "moodle_mirror", metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    sa.Column("employee_id", sa.Text, primary_key=True),
    sa.Column("lms_id", sa.Text, nullable=False),  # Moodle's user id
    sa.Column("fingerprint", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),  # canonical fields as confirmed, JSON
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_moodle_mirror_lms_id", "connection", "lms_id"),
)

journal = sa.Table(
    "moodle_journal", metadata,
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
                       name="ck_moodle_journal_state"),
    sa.Index("ix_moodle_journal_open", "connection", "state"),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS: list[Migration] = [("0001_moodle_mirror_and_journal", _create)]


@dataclass(frozen=True)
class Entry:
    """One mirrored person."""

    employee_id: str
    lms_id: str
    fingerprint: int
    active: bool
    fields: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    """The answer to one sent change; ``entry`` is the person's mirror row after it
    (None: the person left the mirror, or nothing changed there)."""

    employee_id: str
    action: str
    confirmed: bool
    reason: str = ""
    detail: str = ""
    entry: Entry | None = None


class Mirror:
    """Reads and writes of the mirror and the journal, over the state database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        stmt = sa.select(mirror.c.employee_id, mirror.c.lms_id, mirror.c.fingerprint,
                         mirror.c.active, mirror.c.fields)
        if connection is not None:
            stmt = stmt.where(mirror.c.connection == connection)
        wanted = None if ids is None else list(dict.fromkeys(str(i) for i in ids))
        parts = [stmt] if wanted is None else [
            stmt.where(mirror.c.employee_id.in_(wanted[i:i + 900]))
            for i in range(0, len(wanted), 900)]
        out: dict[str, Entry] = {}
        with reading(self.engine) as conn:
            for part in parts:
                for eid, lid, fp, active, fields in fetch_raw(conn, part):
                    out[eid] = Entry(eid, lid, int(fp), bool(active), json.loads(fields))
        return out

    def everyone(self) -> list[tuple[str, Entry]]:
        """(connection, entry) of every mirrored person of every connection."""
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, sa.select(mirror.c.connection, mirror.c.employee_id,
                                             mirror.c.lms_id, mirror.c.fingerprint,
                                             mirror.c.active, mirror.c.fields))
        return [(c, Entry(e, lid, int(fp), bool(a), json.loads(f)))
                for c, e, lid, fp, a, f in rows]

    def frame(self, connection: str | None) -> pd.DataFrame:
        """Every mirrored person with the connection, Moodle id, state and dates."""
        stmt = sa.select(mirror.c.connection, mirror.c.employee_id, mirror.c.lms_id,
                         mirror.c.active, mirror.c.fields, mirror.c.updated_at,
                         mirror.c.deactivated_at).order_by(mirror.c.connection,
                                                           mirror.c.employee_id)
        if connection is not None:
            stmt = stmt.where(mirror.c.connection == connection)
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, stmt)
        return pd.DataFrame(rows, columns=["connection", "employee_id", "lms_id", "active",
                                           "fields", "updated_at", "deactivated_at"])

    def deactivated_before(self, connection: str, cutoff: datetime) -> frozenset[str]:
        """Inactive people deactivated at or before ``cutoff``."""
        with reading(self.engine) as conn:
            return frozenset(conn.scalars(sa.select(mirror.c.employee_id).where(
                mirror.c.connection == connection, mirror.c.active.is_(False),
                mirror.c.deactivated_at <= cutoff)))

    def open_changes(self, connection: str) -> list[tuple[str, str, str]]:
        """(employee id, action, Moodle key) sent by a run that died before the answer;
        the key is the idnumber of a create and the Moodle id of anything else."""
        with reading(self.engine) as conn:
            return [(e, a, d) for e, a, d in fetch_raw(conn, sa.select(
                journal.c.employee_id, journal.c.action, journal.c.detail).where(
                journal.c.connection == connection, journal.c.state == "sent"))]

    def journal_rows(self, connection: str) -> pd.DataFrame:
        """The journal of one connection, oldest first."""
        stmt = sa.select(journal.c.run_id, journal.c.employee_id, journal.c.action,
                         journal.c.state, journal.c.reason, journal.c.detail).where(
            journal.c.connection == connection).order_by(journal.c.id)
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, stmt)
        return pd.DataFrame(rows, columns=["run_id", "employee_id", "action", "state",
                                           "reason", "detail"])

    def intend(self, connection: str, run_id: int | None,
               changes: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Record (employee id, action, Moodle key) as ``sent``, before they are sent."""
        if not changes:
            return
        with self.engine.begin() as tx:
            execute_many(tx, journal.insert(), {
                "employee_id": [c[0] for c in changes], "action": [c[1] for c in changes],
                "detail": [c[2] for c in changes]},
                {"connection": connection, "run_id": run_id, "state": "sent", "reason": "",
                 "at": now})

    def settle(self, connection: str, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Write the answers of sent changes: journal states and the mirror, in one go."""
        if not outcomes:
            return
        with self.engine.begin() as tx:
            stmt = (sa.update(journal).where(
                journal.c.connection == connection,
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
            self._put(tx, connection, [o.entry for o in outcomes
                                       if o.confirmed and o.entry is not None], now)
            gone = [o.employee_id for o in outcomes if o.confirmed and o.action == "delete"]
            for i in range(0, len(gone), 900):
                tx.execute(sa.delete(mirror).where(mirror.c.connection == connection,
                                                   mirror.c.employee_id.in_(gone[i:i + 900])))

    def close_lost(self, connection: str, employee_ids: Iterable[str], now: datetime) -> None:
        """Mark changes a dead run left ``sent`` as ``lost`` (they have been looked up)."""
        ids = list(employee_ids)
        if ids:
            with self.engine.begin() as tx:
                execute_many(tx, sa.update(journal).where(
                    journal.c.connection == connection, journal.c.state == "sent",
                    journal.c.employee_id == sa.bindparam("p_eid")).values(state="lost",
                                                                           at=now),
                    {"p_eid": ids})

    def adopt(self, connection: str, entries: Sequence[Entry], now: datetime) -> None:
        """Put people found in Moodle into the mirror (recovery and ``verify --repair``)."""
        with self.engine.begin() as tx:
            self._put(tx, connection, entries, now)

    def forget(self, connection: str, employee_ids: Iterable[str]) -> None:
        """Drop people from the mirror (their account is gone from Moodle)."""
        ids = list(employee_ids)
        with self.engine.begin() as tx:
            for i in range(0, len(ids), 900):
                tx.execute(sa.delete(mirror).where(mirror.c.connection == connection,
                                                   mirror.c.employee_id.in_(ids[i:i + 900])))

    def rename(self, connection: str, old_id: str, new_id: str) -> None:
        """Re-key a mirrored person (a rehire under a new employee id)."""
        with self.engine.begin() as tx:
            tx.execute(sa.update(mirror).where(mirror.c.connection == connection,
                                               mirror.c.employee_id == old_id)
                       .values(employee_id=new_id))

    @staticmethod
    def _put(tx: Connection, connection: str, entries: Sequence[Entry], now: datetime
             ) -> None:
        if not entries:
            return
        ids = [e.employee_id for e in entries]
        old: dict[str, Any] = {}
        for i in range(0, len(ids), 900):
            for eid, active, since in tx.execute(sa.select(
                    mirror.c.employee_id, mirror.c.active, mirror.c.deactivated_at).where(
                    mirror.c.connection == connection,
                    mirror.c.employee_id.in_(ids[i:i + 900]))):
                old[eid] = (active, since)
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for e in entries:
            before = old.get(e.employee_id)
            since = None if e.active else (
                before[1] if before is not None and not before[0] and before[1] else now)
            row = {"p_eid": e.employee_id, "lms_id": e.lms_id, "fingerprint": e.fingerprint,
                   "active": e.active, "fields": json.dumps(e.fields, sort_keys=True),
                   "updated_at": now, "deactivated_at": since}
            (new if before is None else changed).append(row)
        if new:
            tx.execute(mirror.insert(), [
                {"connection": connection, "employee_id": r.pop("p_eid"), **r} for r in new])
        if changed:
            tx.execute(sa.update(mirror).where(
                mirror.c.connection == connection,
                mirror.c.employee_id == sa.bindparam("p_eid")).values(
                lms_id=sa.bindparam("p_lms"), fingerprint=sa.bindparam("p_fp"),
                active=sa.bindparam("p_active"), fields=sa.bindparam("p_fields"),
                updated_at=sa.bindparam("p_at"), deactivated_at=sa.bindparam("p_since")),
                [{"p_eid": r["p_eid"], "p_lms": r["lms_id"], "p_fp": r["fingerprint"],
                  "p_active": r["active"], "p_fields": r["fields"], "p_at": r["updated_at"],
                  "p_since": r["deactivated_at"]} for r in changed])
