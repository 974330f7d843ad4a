"""The groups of an external LMS target (SCIM Groups, Moodle cohorts) as filebridge knows
them, in its own state database beside the people's mirror.

- ``lms_groups``: the groups each connection created in the LMS (its name for the group
  and the LMS's id). A group is only ever changed by the connection that owns it here.
- ``lms_group_members``: memberships of those groups: ``by_rule`` when filebridge added
  them (a run may remove them), not ``by_rule`` when the LMS already held them before a
  rule asked for them (made there by hand: never removed by filebridge).
- ``lms_group_journal``: every membership change of every run: ``sent`` before the
  request leaves, then ``confirmed`` or ``failed`` (with the server's reason). A row
  still ``sent`` when a run ends means the run died before the answer; the next run
  counts such a member, if the LMS has them, as filebridge's.

Rows change only from confirmed outcomes, so the nightly plan needs no listing of the LMS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.plan.state import MEMBERSHIP_COLUMNS
from filebridge.sql import execute_many, fetch_raw, reading

metadata = sa.MetaData()

owned_groups = sa.Table(
    "lms_groups", metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("lms_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

group_members = sa.Table(
    "lms_group_members", metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    sa.Column("group_name", sa.Text, primary_key=True),
    sa.Column("employee_id", sa.Text, primary_key=True),
    sa.Column("by_rule", sa.Boolean, nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)

group_journal = sa.Table(
    "lms_group_journal", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("group_name", sa.Text, nullable=False),
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # add | remove
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('sent', 'confirmed', 'failed', 'lost')",
                       name="ck_lms_group_journal_state"),
    sa.Index("ix_lms_group_journal_open", "connection", "state"),
    sa.Index("ix_lms_group_journal_run", "run_id"),
)


def create_group_tables(conn: Connection) -> None:
    """Mirror migration ``0004``: owned groups, their memberships, the group journal."""
    metadata.create_all(conn)


@dataclass(frozen=True)
class MemberOutcome:
    """The answer to one sent membership change."""

    group: str
    employee_id: str
    action: str  # add | remove
    confirmed: bool
    reason: str = ""
    detail: str = ""


class GroupMirror:
    """Reads and writes of the group tables, over the state database's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads -------------------------------------------------------------------------

    def memberships(self, connection: str) -> pd.DataFrame:
        """Memberships of ``connection``'s groups (``MEMBERSHIP_COLUMNS``; ``ours`` is
        ``by_rule``)."""
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, sa.select(group_members.c.group_name,
                                             group_members.c.employee_id,
                                             group_members.c.by_rule)
                             .where(group_members.c.connection == connection))
        frame = pd.DataFrame(rows, columns=list(MEMBERSHIP_COLUMNS))
        return frame.astype({"group": "str", "employee_id": "str", "ours": "bool"})

    def owned(self, connection: str) -> dict[str, str]:
        """Group name → LMS id of every group ``connection`` created."""
        with reading(self.engine) as conn:
            return {n: i for n, i in fetch_raw(conn, sa.select(
                owned_groups.c.name, owned_groups.c.lms_id).where(
                owned_groups.c.connection == connection))}

    def members(self, connection: str) -> dict[str, dict[str, bool]]:
        """Group name → {employee id: by_rule} of ``connection``'s groups."""
        out: dict[str, dict[str, bool]] = {}
        for group, eid, ours in self.memberships(connection).itertuples(index=False):
            out.setdefault(str(group), {})[str(eid)] = bool(ours)
        return out

    def table(self, connection: str | None) -> pd.DataFrame:
        """Owned groups with member counts: ``connection, group, members, by_rule,
        by_hand`` (the shape of ``GroupDirectory.groups``)."""
        m = group_members
        ours = sa.func.sum(sa.case((m.c.by_rule.is_(True), 1), else_=0))
        stmt = (sa.select(owned_groups.c.connection, owned_groups.c.name,
                          sa.func.count(m.c.employee_id), ours)
                .join_from(owned_groups, m, sa.and_(m.c.connection == owned_groups.c.connection,
                                                    m.c.group_name == owned_groups.c.name),
                           isouter=True)
                .group_by(owned_groups.c.connection, owned_groups.c.name)
                .order_by(owned_groups.c.connection, owned_groups.c.name))
        if connection is not None:
            stmt = stmt.where(owned_groups.c.connection == connection)
        with reading(self.engine) as conn:
            rows = [(c, n, int(k), int(o or 0), int(k) - int(o or 0))
                    for c, n, k, o in fetch_raw(conn, stmt)]
        return pd.DataFrame(rows, columns=["connection", "group", "members", "by_rule",
                                           "by_hand"])

    def members_of(self, connection: str, name: str) -> pd.DataFrame | None:
        """Members of one owned group (``employee_id, managed_by, by_rule, added_at``);
        None when ``connection`` owns no such group."""
        if name not in self.owned(connection):
            return None
        with reading(self.engine) as conn:
            rows = fetch_raw(conn, sa.select(group_members.c.employee_id,
                                             group_members.c.by_rule,
                                             group_members.c.added_at).where(
                group_members.c.connection == connection,
                group_members.c.group_name == name).order_by(group_members.c.employee_id))
        return pd.DataFrame([(e, connection, bool(o), a) for e, o, a in rows],
                            columns=["employee_id", "managed_by", "by_rule", "added_at"])

    def sent_in_run(self, connection: str, run_id: int) -> set[tuple[str, str, str]]:
        """(group, employee id, action) of the membership changes this run already sent."""
        with reading(self.engine) as conn:
            return {(g, e, a) for g, e, a in fetch_raw(conn, sa.select(
                group_journal.c.group_name, group_journal.c.employee_id,
                group_journal.c.action).where(group_journal.c.connection == connection,
                                              group_journal.c.run_id == run_id))}

    def left_open(self, connection: str) -> set[tuple[str, str, str]]:
        """(group, employee id, action) of changes a dead run sent without an answer."""
        with reading(self.engine) as conn:
            return {(g, e, a) for g, e, a in fetch_raw(conn, sa.select(
                group_journal.c.group_name, group_journal.c.employee_id,
                group_journal.c.action).where(group_journal.c.connection == connection,
                                              group_journal.c.state == "sent"))}

    # -- writes ------------------------------------------------------------------------

    def own(self, connection: str, name: str, lms_id: str, now: datetime) -> None:
        """Record that ``connection`` owns the LMS group ``lms_id`` named ``name``."""
        with self.engine.begin() as tx:
            tx.execute(sa.delete(owned_groups).where(owned_groups.c.connection == connection,
                                                     owned_groups.c.name == name))
            tx.execute(owned_groups.insert().values(connection=connection, name=name,
                                                    lms_id=lms_id, created_at=now))

    def intend(self, connection: str, run_id: int | None,
               changes: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Record (group, employee id, action) as ``sent``, before they are sent."""
        if not changes:
            return
        with self.engine.begin() as tx:
            execute_many(tx, group_journal.insert(), {
                "group_name": [c[0] for c in changes], "employee_id": [c[1] for c in changes],
                "action": [c[2] for c in changes]},
                {"connection": connection, "run_id": run_id, "state": "sent", "reason": "",
                 "detail": "", "at": now})

    def settle(self, connection: str, run_id: int | None,
               outcomes: Sequence[MemberOutcome], now: datetime) -> None:
        """Write answers: journal states, and the memberships of confirmed changes."""
        if not outcomes:
            return
        j = group_journal
        with self.engine.begin() as tx:
            execute_many(tx, sa.update(j).where(
                j.c.connection == connection,
                j.c.run_id.is_(None) if run_id is None else j.c.run_id == run_id,
                j.c.group_name == sa.bindparam("p_g"), j.c.employee_id == sa.bindparam("p_e"),
                j.c.action == sa.bindparam("p_a"), j.c.state == "sent").values(
                state=sa.bindparam("p_state"), reason=sa.bindparam("p_reason"),
                detail=sa.bindparam("p_detail"), at=now), {
                "p_g": [o.group for o in outcomes], "p_e": [o.employee_id for o in outcomes],
                "p_a": [o.action for o in outcomes],
                "p_state": ["confirmed" if o.confirmed else "failed" for o in outcomes],
                "p_reason": [o.reason for o in outcomes],
                "p_detail": [o.detail[:2000] for o in outcomes]})
            done = [o for o in outcomes if o.confirmed]
            self._put(tx, connection, [(o.group, o.employee_id) for o in done
                                       if o.action == "add"], True, now)
            self._drop(tx, connection, [(o.group, o.employee_id) for o in done
                                        if o.action == "remove"])

    def keep(self, connection: str, pairs: Sequence[tuple[str, str]], by_rule: bool,
             now: datetime) -> None:
        """Record (group, employee id) memberships the LMS holds: ``by_rule`` for those a
        dead run of filebridge added, not for those made there by hand (never removed)."""
        with self.engine.begin() as tx:
            self._put(tx, connection, pairs, by_rule, now)

    def close_lost(self, connection: str, now: datetime) -> None:
        """Mark every change a dead run left ``sent`` as ``lost`` (it has been looked at)."""
        with self.engine.begin() as tx:
            tx.execute(sa.update(group_journal).where(
                group_journal.c.connection == connection, group_journal.c.state == "sent")
                .values(state="lost", at=now))

    def forget_groups(self, connection: str, names: Iterable[str]) -> None:
        """Drop groups (gone from the LMS) and their memberships from the mirror."""
        names = list(names)
        if not names:
            return
        with self.engine.begin() as tx:
            for table, column in ((owned_groups, owned_groups.c.name),
                                  (group_members, group_members.c.group_name)):
                execute_many(tx, sa.delete(table).where(
                    table.c.connection == connection, column == sa.bindparam("p_n")),
                    {"p_n": names})

    def forget_members(self, connection: str, pairs: Sequence[tuple[str, str]]) -> None:
        """Drop (group, employee id) memberships (taken out in the LMS by hand)."""
        with self.engine.begin() as tx:
            self._drop(tx, connection, pairs)

    @staticmethod
    def _put(tx: Connection, connection: str, pairs: Sequence[tuple[str, str]],
             by_rule: bool, now: datetime) -> None:
        pairs = list(dict.fromkeys(pairs))
        if not pairs:
            return
        GroupMirror._drop(tx, connection, pairs)
        execute_many(tx, group_members.insert(), {
            "group_name": [g for g, _ in pairs], "employee_id": [e for _, e in pairs]},
            {"connection": connection, "by_rule": by_rule, "added_at": now})

    @staticmethod
    def _drop(tx: Connection, connection: str, pairs: Sequence[tuple[str, str]]) -> None:
        if not pairs:
            return
        execute_many(tx, sa.delete(group_members).where(
            group_members.c.connection == connection,
            group_members.c.group_name == sa.bindparam("p_g"),
            group_members.c.employee_id == sa.bindparam("p_e")),
            {"p_g": [g for g, _ in pairs], "p_e": [e for _, e in pairs]})
