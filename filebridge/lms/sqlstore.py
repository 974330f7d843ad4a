"""The built-in LMS store: people, org data and learning records in SQL (SQLite or PostgreSQL).

It implements the ``Lms`` interface and keeps its own transactions: a plan and the
ledger's applied mark commit together when the ledger lives in the same database.
Reads are in ``sqlstate``, writes in ``sqlwrite``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.failpoints import failpoint
from filebridge.lms import people
from filebridge.lms.completions import (
    AssignmentInput,
    CompletionInput,
    completions_for_export,
    overdue_assignments,
    people_by_employee_id,
    record_assignments,
    record_completions,
)
from filebridge.lms.drift import ensure_drift_marks
from filebridge.lms.groups_sql import group_members_of, group_table
from filebridge.lms.interface import ApplyResult, Capabilities, Receipt
from filebridge.lms.lifecycle import adopt, adoption_candidates
from filebridge.lms.mirror_results import mirrored_people, record_results
from filebridge.lms.runmarks import committed_run, digest_of, mark_run, plan_digest
from filebridge.lms.schema import (
    COMPONENT,
    MIGRATIONS,
    PERSON_FIELDS,
    changes,
    completions,
    courses,
    departments,
    group_members,
    groups,
    job_titles,
    user_attributes,
    users,
)
from filebridge.lms.search_repair import ensure_search_keys
from filebridge.lms.sqlstate import SqlState
from filebridge.lms.sqlwrite import write_plan
from filebridge.lms.undo import undo_plan
from filebridge.plan.model import Plan
from filebridge.sql import location, migrate, open_engine, reading

# Turns the store's ids of a file's people into learning records to write (see
# ``SqlStore.record_learning``).
# A person is the store's id, or (connection, employee id) for an external target's.
LearningBuilder = Callable[[dict[str, list[int | tuple[str, str]]]],
                           tuple[list[CompletionInput], list[AssignmentInput]]]


class SqlStore:
    """The built-in LMS store over one SQLAlchemy engine (shared with the ledger)."""

    capabilities = Capabilities(transactions=True, completions=True, org=True, undo=True,
                                adopt=True, groups=True)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.location = location(engine)

    @classmethod
    def open(cls, url: str, password: str | None = None) -> SqlStore:
        """The store at ``url`` (not yet migrated: call ``prepare``)."""
        return cls(open_engine(url, password=password))

    def prepare(self) -> list[str]:
        """Create or upgrade the store's tables; returns the migrations applied now.

        The drift triggers and person search's triggers and index are checked after
        every batch (a table rebuilt by a migration loses its triggers) and created
        again if one is missing."""
        applied = migrate(self.engine, COMPONENT, MIGRATIONS)
        ensure_drift_marks(self.engine)
        ensure_search_keys(self.engine)
        return applied

    def migrate(self) -> list[str]:
        """Same as ``prepare``."""
        return self.prepare()

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    # -- reads -----------------------------------------------------------------

    def state(self, connection: str) -> SqlState:
        """Read access for planning ``connection``."""
        return SqlState(self.engine, connection)

    def users(
        self, connection: str | None, *, active: bool | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """People with every field, ordered by connection and employee id (None = everyone)."""
        stmt = sa.select(users.c.managed_by, users.c.employee_id,
                         *(users.c[f] for f in PERSON_FIELDS), users.c.active,
                         users.c.created_at, users.c.updated_at, users.c.deactivated_at)
        if connection is not None:
            stmt = stmt.where(users.c.managed_by == connection)
        if active is not None:
            stmt = stmt.where(users.c.active == active)
        stmt = stmt.order_by(users.c.managed_by, users.c.employee_id).limit(limit)
        with reading(self.engine) as conn:
            result = conn.execute(stmt)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def groups(self, connection: str | None) -> pd.DataFrame:
        """Groups (of one connection, or all) with member counts (see ``group_table``)."""
        return group_table(self.engine, connection)

    def group_members(self, connection: str, name: str) -> pd.DataFrame | None:
        """The members of one of ``connection``'s groups; None when it has no such group."""
        return group_members_of(self.engine, connection, name)

    def completions(self, since: datetime | None) -> pd.DataFrame:
        """Course results recorded after ``since`` (all when None), oldest first."""
        stmt = (sa.select(users.c.managed_by.label("connection"), users.c.employee_id,
                          courses.c.code.label("course_code"), courses.c.title.label("course"),
                          completions.c.status, completions.c.completed_at, completions.c.score,
                          completions.c.time_spent_minutes, completions.c.recorded_at)
                .join_from(completions, users).join(courses)
                .order_by(completions.c.recorded_at, completions.c.id))
        if since is not None:
            stmt = stmt.where(completions.c.recorded_at > since)
        with reading(self.engine) as conn:
            result = conn.execute(stmt)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def person(self, connection: str, employee_id: str) -> dict[str, Any] | None:
        """One person's current fields, ``active`` and dates (None when not in the store)."""
        return people.person_row(self.engine, connection, employee_id)

    def find_people(self, connection: str, query: str, limit: int = 20) -> list[str]:
        """Employee ids of ``connection`` named by an id, a current or former e-mail or a
        name fragment."""
        return people.find_ids(self.engine, connection, query, limit)

    def people_names(self, connection: str, ids: list[str]) -> pd.DataFrame:
        """Names, e-mail and active flag of these people of ``connection``."""
        return people.names_of(self.engine, connection, ids)

    def directory(self, connection: str, near: str | None = None) -> pd.DataFrame:
        """Ids, e-mails and names of ``connection`` (for near-match suggestions): everyone,
        or those starting like a word of ``near``."""
        return people.directory(self.engine, connection, near)

    def journal_of(self, connection: str, employee_ids: list[str],
                   since: datetime | None = None) -> pd.DataFrame:
        """What apply changed for these people, newest first (one row per change)."""
        return people.journal_of(self.engine, connection, employee_ids, since)

    def forget_journal(self, connection: str, before: datetime, dry_run: bool = False
                       ) -> int:
        """Delete the journal rows (old and new values) of ``connection`` written before
        ``before``; with ``dry_run`` only count them. Undo cannot reach those runs then."""
        where = (changes.c.connection == connection, changes.c.at < before)
        with self.engine.begin() as tx:
            if dry_run:
                return int(tx.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
            return int(tx.execute(changes.delete().where(*where)).rowcount)

    # -- writes ----------------------------------------------------------------

    def apply(self, plan: Plan, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Write ``plan`` in one transaction; the receipt commits with it when it can.

        Raises ``StalePlan`` when the store no longer matches what the plan was made
        from; the transaction then rolls back, so nothing is half-applied.
        """
        return self._commit(lambda tx: write_plan(tx, plan, run_id, now), receipt,
                            plan.connection, run_id, lambda: plan_digest(plan),
                            plan.counts(), now)

    def apply_within(self, tx: Any, plan: Plan, run_id: int | None, now: datetime
                     ) -> dict[str, int]:
        """Write ``plan`` inside an open transaction of this store's engine (never commits)."""
        return write_plan(tx, plan, run_id, now)

    def committed_run(self, connection: str, run_id: int, digest: str
                      ) -> dict[str, int] | None:
        """The counts a run committed here, as this store recorded them when the ledger
        lives elsewhere; None when it never committed."""
        return committed_run(self.engine, connection, run_id, digest)

    def _commit(self, write: Callable[[Any], dict[str, int]], receipt: Receipt | None,
                connection: str, run_id: int | None, digest: Callable[[], str],
                planned: dict[str, int], now: datetime) -> ApplyResult:
        joined = receipt is not None and receipt.shares(self.engine)
        marked = receipt is not None and not joined and run_id is not None
        if marked and receipt is not None:
            # Separate databases cannot share a transaction: the ledger learns the intent
            # first and this store marks the run with its changes, so a failure between
            # the two commits is settled from here (``committed_run``).
            plan_hash = digest()
            receipt.intend(plan_hash, planned)
        with self.engine.begin() as tx:
            counts = write(tx)
            failpoint("after-lms-changes")
            if receipt is not None:
                receipt.check()
            if joined and receipt is not None:
                receipt.write(counts, tx)
                failpoint("before-commit")
            elif marked and run_id is not None:
                mark_run(tx, connection, run_id, plan_hash, counts, now)
                failpoint("before-commit")
        failpoint("after-commit")
        if receipt is not None and not joined:
            receipt.write(counts, None)
        return ApplyResult(counts)

    # -- the built-in store's own services ----------------------------------------

    def undo_plan(self, connection: str, run_id: int) -> tuple[Plan, pd.DataFrame]:
        """The plan that reverses ``run_id`` where nothing later interfered, and the refusals."""
        return undo_plan(self.engine, connection, run_id)

    def adoption_candidates(self, connection: str, people: pd.DataFrame,
                            by: Literal["email", "employee_id"]) -> pd.DataFrame:
        """Unmanaged users matching the file's people on ``by``, and why some are not adoptable."""
        return adoption_candidates(self.engine, connection, people, by)

    def adopt(self, connection: str, pairs: pd.DataFrame, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Make the adoptable users of ``pairs`` managed by ``connection``."""
        return self._commit(lambda tx: {"adopt": adopt(tx, connection, pairs, run_id, now)},
                            receipt, connection, run_id,
                            lambda: digest_of(connection, {"adopt": pairs}),
                            {"adopt": int((pairs["note"] == "").sum()) if len(pairs) else 0},
                            now)

    def record_learning(self, connection: str | None, employee_ids: Sequence[str],
                        build: LearningBuilder, now: datetime) -> dict[str, int]:
        """Record course results and assignments in one transaction (people of
        ``connection``, or of any connection when None).

        ``build`` gets each employee id's people (read in the same transaction): store
        ids, and ``(connection, employee id)`` for the people of external targets'
        mirrors; it returns what to record. Assignments are for store ids only.
        """
        with self.engine.begin() as tx:
            found: dict[str, list[int | tuple[str, str]]] = {
                k: list(v) for k, v in people_by_employee_id(tx, connection,
                                                             employee_ids).items()}
            for k, v in mirrored_people(tx, connection, employee_ids).items():
                found.setdefault(k, []).extend(v)
            results, assignments = build(found)
            counts = record_completions(tx, [r for r in results
                                             if isinstance(r.user_id, int)], now)
            mirrored = record_results(tx, [r for r in results
                                           if not isinstance(r.user_id, int)], now)
            return {**{k: counts[k] + mirrored[k] for k in counts},
                    **record_assignments(tx, assignments, now)}

    def completions_for_export(self, connection: str, *, after_revision: int | None = None,
                               completed_from: datetime | None = None,
                               completed_until: datetime | None = None) -> pd.DataFrame:
        """Results of ``connection``'s people after a revision or in a completion-date range."""
        return completions_for_export(self.engine, connection, after_revision=after_revision,
                                      completed_from=completed_from,
                                      completed_until=completed_until)

    def overdue_assignments(self, connection: str, now: datetime, *,
                            due_from: datetime | None = None) -> pd.DataFrame:
        """Assignments of ``connection``'s people due before ``now`` and not completed."""
        return overdue_assignments(self.engine, connection, now, due_from=due_from)

    def dump(self) -> list[tuple[Any, ...]]:
        """Users, attributes, departments and job titles, ordered, without ids or timestamps."""
        out: list[tuple[Any, ...]] = []
        with reading(self.engine) as conn:
            # Whether deactivated_at is set is state; its value is a timestamp.
            for managed_by, *person, active, fingerprint, deactivated in conn.execute(sa.select(
                    users.c.managed_by, users.c.employee_id, *(users.c[f] for f in PERSON_FIELDS),
                    users.c.active, users.c.fingerprint, users.c.deactivated_at.is_not(None))):
                out.append(("user", managed_by or "", *person, bool(active), int(fingerprint),
                            bool(deactivated)))
            for r in conn.execute(sa.select(users.c.managed_by, users.c.employee_id,
                                            user_attributes.c.name, user_attributes.c.value)
                                  .join_from(user_attributes, users)):
                out.append(("attribute", r[0] or "", *r[1:]))
            for d in conn.execute(sa.select(departments.c.code, departments.c.name,
                                            departments.c.parent_code)):
                out.append(("department", *d))
            out += [("job_title", r[0]) for r in conn.execute(sa.select(job_titles.c.name))]
            out += [("group", m or "", n, e or "", a or "") for m, n, e, a in conn.execute(
                sa.select(groups.c.managed_by, groups.c.name, users.c.employee_id,
                          group_members.c.added_by)
                .join_from(groups, group_members, isouter=True)
                .join(users, users.c.id == group_members.c.user_id, isouter=True))]
        return sorted(out)

    # -- apply -----------------------------------------------------------------

