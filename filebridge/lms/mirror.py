"""The mirror of an external LMS target (SCIM, Moodle), kept in filebridge's own state
database.

An external LMS has no transaction to share with the ledger, so two tables stand in:

- ``lms_mirror``: per connection, each person filebridge put into the LMS: employee id,
  the LMS's own id for the account, fingerprint, active, the canonical fields as sent.
  It changes only from confirmed outcomes, and it is all the fast plan reads: no LMS
  listing per night.
- ``lms_journal``: every change of every run: ``sent`` before the request leaves, then
  ``confirmed`` or ``failed`` (with the server's reason). A row still ``sent`` when a
  run ends means the run died in between; the next run looks those people up in the LMS
  (by ``lms_key``: the external id or idnumber the change carried) before creating
  anyone, then marks the row ``lost``.

Every external target uses these tables; a connection feeds one target, so the
connection column keeps targets apart.
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
from sqlalchemy.schema import SchemaItem

from filebridge.lms.group_mirror import create_group_tables, group_members
from filebridge.sql import Migration, execute_many, fetch_raw, reading

# The component name the mirror's first migration was recorded under (it began as the
# SCIM target's); kept so that existing state databases migrate on from there.
COMPONENT = "lms-scim"
JOURNAL_STATES = ("sent", "confirmed", "failed", "lost")
# Fingerprint of a person whose last change was only partly confirmed (a manager that
# could not be set yet): no file's fingerprint matches it, so the next plan looks again.
UNSETTLED = 0
CHUNK = 900  # bound parameters per IN list (old SQLite builds allow 999)

metadata = sa.MetaData()


def _mirror_shape(id_column: str) -> list[SchemaItem]:
    """The mirror's columns and index; ``id_column`` holds the account's id in the LMS.

    The first migration builds its table from this too (with ``scim_id``): a change here
    changes what that migration made, so it needs a migration of its own.
    """
    return [
        sa.Column("connection", sa.String(200), primary_key=True),
        sa.Column("employee_id", sa.Text, primary_key=True),
        sa.Column(id_column, sa.Text, nullable=False),  # the account's id in the LMS
        sa.Column("fingerprint", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        # The canonical fields as last confirmed by the server, one JSON object.
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        # Index and constraint names are those the first migration made.
        sa.Index("ix_scim_mirror_scim_id", "connection", id_column),
    ]


def _journal_shape(*added: sa.Column[Any]) -> list[SchemaItem]:
    """The journal's columns as the first migration made them, then ``added`` columns,
    then its check and indexes (the first migration builds from this too)."""
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("employee_id", sa.Text, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        *added,
        sa.CheckConstraint("state IN ('sent', 'confirmed', 'failed', 'lost')",
                           name="ck_scim_journal_state"),
        sa.Index("ix_scim_journal_open", "connection", "state"),
        sa.Index("ix_scim_journal_run", "run_id", "employee_id"),
    ]


mirror = sa.Table("lms_mirror", metadata, *_mirror_shape("lms_id"))

journal = sa.Table(
    "lms_journal", metadata,
    *_journal_shape(
        # What the LMS knows the person by when the change left (an idnumber, an LMS id),
        # for looking the change up after a run died before its answer; blank: employee id.
        sa.Column("lms_key", sa.Text, nullable=False, server_default="")),
)


def _create_scim_tables(conn: Connection) -> None:
    """The first shape: the SCIM target's mirror and journal."""
    old = sa.MetaData()
    sa.Table("scim_mirror", old, *_mirror_shape("scim_id"))
    sa.Table("scim_journal", old, *_journal_shape())
    old.create_all(conn)


def _applied_runs(conn: Connection) -> None:
    # The marks of runs that sent their whole plan; the built-in store creates the same
    # table (create_all skips it when it exists), and settling reads either.
    from filebridge.lms.runmarks import create_run_tables

    create_run_tables(conn)


def _one_mirror_for_every_target(conn: Connection) -> None:
    """The same tables serve every external target: neutral names, and the key a change
    was sent under (Moodle looks a lost create up by idnumber, not employee id)."""
    conn.execute(sa.text("ALTER TABLE scim_mirror RENAME TO lms_mirror"))
    conn.execute(sa.text("ALTER TABLE lms_mirror RENAME COLUMN scim_id TO lms_id"))
    conn.execute(sa.text("ALTER TABLE scim_journal RENAME TO lms_journal"))
    conn.execute(sa.text("ALTER TABLE lms_journal ADD COLUMN lms_key TEXT NOT NULL "
                         "DEFAULT ''"))


def _results_of_mirrored_people(conn: Connection) -> None:
    from filebridge.lms.mirror_results import create_results_table

    create_results_table(conn)


MIGRATIONS: list[Migration] = [("0001_scim_mirror_and_journal", _create_scim_tables),
                               ("0002_applied_runs", _applied_runs),
                               ("0003_one_mirror_for_every_target",
                                _one_mirror_for_every_target),
                               ("0004_results_of_mirrored_people",
                                _results_of_mirrored_people),
                               ("0005_owned_groups_and_memberships", create_group_tables)]


@dataclass(frozen=True)
class Entry:
    """One mirrored person."""

    employee_id: str
    lms_id: str  # the account's id in the LMS
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
        stmt = sa.select(mirror.c.employee_id, mirror.c.lms_id, mirror.c.fingerprint,
                         mirror.c.active, mirror.c.fields, mirror.c.connection)
        if connection is not None:
            stmt = stmt.where(mirror.c.connection == connection)
        out: dict[str, Entry] = {}
        wanted = None if ids is None else list(dict.fromkeys(ids))
        with reading(self.engine) as conn:
            parts = [stmt] if wanted is None else [
                stmt.where(mirror.c.employee_id.in_(wanted[i:i + CHUNK]))
                for i in range(0, len(wanted), CHUNK)]
            for part in parts:
                for eid, sid, fp, active, fields, _ in fetch_raw(conn, part):
                    out[eid] = Entry(eid, sid, int(fp), bool(active), json.loads(fields))
        return out

    def frame(self, connection: str | None) -> pd.DataFrame:
        """Every mirrored person with the connection, LMS id, state and fields."""
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

    def open_keys(self, connection: str) -> list[tuple[str, str, str]]:
        """(employee id, action, LMS key) of every change a dead run left ``sent``."""
        with reading(self.engine) as conn:
            return [(e, a, k) for e, a, k in fetch_raw(conn, sa.select(
                journal.c.employee_id, journal.c.action, journal.c.lms_key).where(
                journal.c.connection == connection, journal.c.state == "sent"))]

    def everyone(self) -> list[tuple[str, Entry]]:
        """(connection, entry) of every mirrored person of every connection."""
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, sa.select(mirror.c.connection, mirror.c.employee_id,
                                             mirror.c.lms_id, mirror.c.fingerprint,
                                             mirror.c.active, mirror.c.fields))
        return [(c, Entry(e, lid, int(fp), bool(a), json.loads(f)))
                for c, e, lid, fp, a, f in rows]

    def sent_in_run(self, connection: str, run_id: int) -> set[tuple[str, str]]:
        """(employee id, action) pairs this run has already sent."""
        with reading(self.engine) as conn:
            return {(e, a) for e, a in fetch_raw(conn, sa.select(
                journal.c.employee_id, journal.c.action).where(
                journal.c.connection == connection, journal.c.run_id == run_id))}

    def confirmed_in_run(self, connection: str, run_id: int) -> dict[str, int]:
        """How many changes of ``run_id`` the server confirmed, by action."""
        with reading(self.engine) as conn:
            return {a: int(n) for a, n in fetch_raw(conn, sa.select(
                journal.c.action, sa.func.count()).where(
                journal.c.connection == connection, journal.c.run_id == run_id,
                journal.c.state == "confirmed").group_by(journal.c.action))}

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

    def intend(self, connection: str, run_id: int | None,
               changes: Sequence[tuple[str, str] | tuple[str, str, str]],
               now: datetime) -> None:
        """Record (employee id, action[, LMS key]) as ``sent``, before they are sent; the
        key is what a lookup after a lost answer searches by (default: the employee id)."""
        if not changes:
            return
        with self.engine.begin() as tx:
            execute_many(tx, journal.insert(), {
                "employee_id": [c[0] for c in changes], "action": [c[1] for c in changes],
                "lms_key": [c[2] if len(c) > 2 else "" for c in changes]},  # type: ignore[misc]
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
            self._put(tx, connection, [o.entry for o in outcomes
                                       if o.confirmed and o.entry is not None], now)
            gone = [o.employee_id for o in outcomes
                    if o.confirmed and o.entry is None and o.action == "delete"]
            for i in range(0, len(gone), CHUNK):
                tx.execute(sa.delete(mirror).where(mirror.c.connection == connection,
                                                   mirror.c.employee_id.in_(gone[i:i + CHUNK])))

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
            self._put(tx, connection, entries, now)

    def forget(self, connection: str, employee_ids: Iterable[str]) -> None:
        """Drop people from the mirror (gone from the LMS)."""
        ids = list(employee_ids)
        with self.engine.begin() as tx:
            for i in range(0, len(ids), CHUNK):
                tx.execute(sa.delete(mirror).where(mirror.c.connection == connection,
                                                   mirror.c.employee_id.in_(ids[i:i + CHUNK])))

    @staticmethod
    def _put(tx: Connection, connection: str, entries: Sequence[Entry], now: datetime
             ) -> None:
        """Insert or update ``entries``, a few statements for any number of people."""
        entries = list({e.employee_id: e for e in entries}.values())  # the last one wins
        if not entries:
            return
        ids = [e.employee_id for e in entries]
        old: dict[str, tuple[bool, datetime | None]] = {}
        for i in range(0, len(ids), CHUNK):
            for eid, active, since in tx.execute(sa.select(
                    mirror.c.employee_id, mirror.c.active, mirror.c.deactivated_at).where(
                    mirror.c.connection == connection,
                    mirror.c.employee_id.in_(ids[i:i + CHUNK]))):
                old[eid] = (bool(active), since)
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for e in entries:
            before = old.get(e.employee_id)
            since = None if e.active else (
                before[1] if before is not None and not before[0] and before[1] else now)
            row = {"p_eid": e.employee_id, "p_lms": e.lms_id, "p_fp": e.fingerprint,
                   "p_active": e.active, "p_fields": json.dumps(e.fields, sort_keys=True),
                   "p_at": now, "p_since": since}
            (new if before is None else changed).append(row)
        if new:
            tx.execute(mirror.insert(), [
                {"connection": connection, "employee_id": r["p_eid"], "lms_id": r["p_lms"],
                 "fingerprint": r["p_fp"], "active": r["p_active"], "fields": r["p_fields"],
                 "updated_at": r["p_at"], "deactivated_at": r["p_since"]} for r in new])
        if changed:
            tx.execute(sa.update(mirror).where(
                mirror.c.connection == connection,
                mirror.c.employee_id == sa.bindparam("p_eid")).values(
                lms_id=sa.bindparam("p_lms"), fingerprint=sa.bindparam("p_fp"),
                active=sa.bindparam("p_active"), fields=sa.bindparam("p_fields"),
                updated_at=sa.bindparam("p_at"), deactivated_at=sa.bindparam("p_since")),
                changed)

    def rename(self, connection: str, old_id: str, new_id: str) -> None:
        """Re-key a mirrored person (a rehire under a new employee id); their loaded
        results follow them, as the built-in store's follow the person's row."""
        from filebridge.lms.mirror_results import results

        with self.engine.begin() as tx:
            tx.execute(sa.update(mirror).where(mirror.c.connection == connection,
                                               mirror.c.employee_id == old_id)
                       .values(employee_id=new_id))
            tx.execute(sa.update(results).where(results.c.connection == connection,
                                                results.c.employee_id == old_id)
                       .values(employee_id=new_id))
            # The person keeps the groups filebridge (or someone by hand) put them in.
            tx.execute(sa.update(group_members).where(
                group_members.c.connection == connection,
                group_members.c.employee_id == old_id).values(employee_id=new_id))


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
