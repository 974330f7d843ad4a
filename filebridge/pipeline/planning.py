"""From mapped records to the whole plan of one run: filters, rehires, email clashes,
leaver policy, skipped rows, departments and job titles, and the guard's history."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from filebridge.columnar import is_in, positions_of
from filebridge.formats import Table
from filebridge.lms.lifecycle import holders_of_emails, inactive_since
from filebridge.lms.org import org_usage, stored_org
from filebridge.mapping import KEY, MappedRecords, Mapping
from filebridge.pipeline.context import Context
from filebridge.plan import DiffOptions, Plan, diff
from filebridge.plan.guard import History
from filebridge.plan.identity import email_change_conflicts, resolve
from filebridge.plan.model import SKIPPED_COLUMNS, FileKind
from filebridge.plan.org import department_cycles, desired_departments, org_changes, tree
from filebridge.plan.policy import Policies, filtered_rows
from filebridge.problems import Problem


def make_plan(ctx: Context, connection: str, mapping: Mapping, records: MappedRecords,
              table: Table, file_kind: FileKind, snapshot: pd.DataFrame, now: datetime
              ) -> tuple[Plan, list[Problem]]:
    """The plan for these records, and file problems (department cycles) that stop the run.

    Rows found to clash (an email held by someone else) are rejected in ``records``.
    """
    policies = Policies.from_config(ctx.connection(connection).policies)
    accepted = records.accepted()
    outside, filtered = filtered_rows(accepted, policies)
    desired = accepted.loc[~outside]
    holders = lambda emails: holders_of_emails(ctx.store_engine, emails)  # noqa: E731
    # Where each row's person sits in the snapshot: one hash lookup shared by every step.
    positions = positions_of(desired[KEY], snapshot[KEY])
    ids = resolve(connection, desired, snapshot, holders, policies, file_kind, positions >= 0)
    _reject_clashes(records, ids.conflicts, table.file, mapping)
    if len(ids.conflicts):
        keep = ~is_in(desired[KEY], ids.conflicts[KEY])
        desired, positions = desired.loc[keep], positions[keep]
    expired: frozenset[str] = frozenset()
    if policies.leavers == "delete":
        cutoff = now - timedelta(days=policies.delete_grace_days)
        expired = inactive_since(ctx.store_engine, connection, cutoff)
    names, keep_blank, lms_owned = _planned_fields(mapping)
    options = DiffOptions(
        file_kind, keep_blank,
        frozenset(records.rejected_keys() | _ids_in_unparsed_rows(table, snapshot)),
        lms_owned, policies.leavers, policies.delete_grace_days, expired, filtered,
        ids.rekeys)

    def fetch(wanted: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        return ctx.store.fetch(connection, wanted, fields)

    plan = diff(connection, desired, names, snapshot, fetch, options, positions)
    clashes = email_change_conflicts(connection, plan.updates, desired, snapshot, holders,
                                     policies, file_kind)
    _reject_clashes(records, clashes, table.file, mapping)
    plan.drop_people(set(clashes[KEY]))
    desired = desired.loc[~is_in(desired[KEY], clashes[KEY])]
    plan.skipped = pd.concat([filtered, _missing_email(records), plan.skipped],
                             ignore_index=True).loc[:, list(SKIPPED_COLUMNS)]
    problems = _org(ctx, plan, desired, snapshot, mapping, policies, table.file)
    return plan, problems


def _planned_fields(mapping: Mapping) -> tuple[tuple[str, ...], frozenset[str],
                                               frozenset[str]]:
    """The fields the plan keeps in step, those whose blank keeps the stored value, and
    those set at creation only.

    A manager named by work email is resolved to their employee id during validation;
    the LMS keeps both, and the id follows the email's rules.
    """
    names = mapping.names
    keep_blank = {f.name for f in mapping.fields if f.empty == "keep"}
    lms_owned = set(mapping.lms_owned)
    if "manager_email" in names and "manager_id" not in names:
        names = (*names, "manager_id")
        keep_blank |= {"manager_id"} if "manager_email" in keep_blank else set()
        lms_owned |= {"manager_id"} if "manager_email" in lms_owned else set()
    return names, frozenset(keep_blank), frozenset(lms_owned)


def _reject_clashes(records: MappedRecords, clashes: pd.DataFrame, file: str,
                    mapping: Mapping) -> None:
    if clashes.empty:
        return
    frame = records.frame
    column = mapping.column_names().get("email", "email")
    hit = np.flatnonzero(is_in(frame[KEY], clashes[KEY]) & ~records.rejected)
    records.rejected[hit] = True
    for row in clashes.itertuples(index=False):
        records.problems.add(Problem(
            "email-in-use", f"work email {row.email!r} belongs to {row.holder}, an active LMS "
            "user; never merged (if it is the same person, adopt the account with "
            "`filebridge link`)", file, int(row.line), column, str(row.email)))


def _missing_email(records: MappedRecords) -> pd.DataFrame:
    frame = records.frame
    if "email" not in frame.columns:
        return pd.DataFrame(columns=list(SKIPPED_COLUMNS))
    rows = frame.loc[records.rejected & (frame["email"] == "").to_numpy()]
    return pd.DataFrame({KEY: rows[KEY].to_numpy(dtype=object), "reason": "missing-email",
                         "message": "no work email: row skipped, the person is not a leaver",
                         "line": rows["line"].to_numpy(dtype=object)})


def _org(ctx: Context, plan: Plan, desired: pd.DataFrame, snapshot: pd.DataFrame,
         mapping: Mapping, policies: Policies, file: str) -> list[Problem]:
    """Plan department and job title changes; department cycles are file problems."""
    leaving = set(plan.deactivations[KEY]) | set(plan.deletes[KEY])
    # The people of the file who are active after the plan: active rows, and inactive rows
    # of active people when leavers are ignored.
    active = (desired["status"] != "inactive").to_numpy() if "status" in desired else \
        np.ones(len(desired), dtype=bool)
    if policies.leavers == "ignore":
        was_active = snapshot.loc[snapshot["active"].astype(bool), KEY]
        active = active | is_in(desired[KEY], was_active)
    staying = desired.loc[active & ~is_in(desired[KEY], leaving)]
    stored = stored_org(ctx.store_engine)
    cycles = department_cycles(tree(desired_departments(staying), stored))
    if cycles:
        column = mapping.column_names().get("parent_department_code")
        return [Problem("department-cycle", "department cycle " + " → ".join([*c, c[0]]),
                        file, None, column, c[0]) for c in cycles]
    plan.org = org_changes(
        plan.connection, staying, stored,
        lambda codes, titles: org_usage(ctx.store_engine, mapping.names, codes, titles),
        policies.cleanup, leaving, "parent_department_code" in mapping.names)
    plan.org_planned = True
    return []


def _ids_in_unparsed_rows(table: Table, snapshot: pd.DataFrame) -> set[str]:
    """Managed ids that appear in rows the reader could not split (never leavers for it)."""
    raw = [p.value for p in table.problems if p.value]
    if not raw:
        return set()
    tokens = {t.strip().strip('"') for text in raw for t in
              text.replace(";", ",").replace("|", ",").replace("\t", ",").split(",")}
    managed = snapshot[KEY]
    return set(managed[is_in(managed, tokens)].tolist())


def export_time_of(mapping: Mapping, name: str, table: Table) -> datetime | None:
    """The export's own date from its name or a column, as the mapping says (UTC if naive)."""
    spec = mapping.export_time
    if spec is None:
        return None
    stamp: datetime | None = None
    if spec.file_name is not None:
        found = re.search(spec.file_name, name)
        if found is not None:
            text = found.group(1) if found.groups() else found.group(0)
            try:
                stamp = datetime.strptime(text, spec.format)
            except ValueError:
                stamp = None
    elif spec.column is not None and spec.column in table.frame.columns:
        values = pd.to_datetime(table.frame[spec.column], format=spec.format, errors="coerce")
        latest = values.max()
        stamp = None if pd.isna(latest) else latest.to_pydatetime()
    if stamp is not None and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything filebridge writes is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def history_of(ctx: Context, connection: str, export_time: datetime | None) -> History:
    """What the guard needs from earlier runs: last snapshot's rows, newest export time."""
    rows = None
    for run in ctx.ledger.runs(connection=connection, limit=200):
        if run.state != "applied" or run.kind not in ("import", "replay", "approve"):
            continue
        report = ctx.ledger.get_run(run.id).report or {}
        if (report.get("plan") or {}).get("file_kind") == "snapshot":
            rows = int(report.get("rows", 0))
            break
    newest = ctx.ledger.newest_applied_export(connection)
    return History(rows, _aware(newest.export_time) if newest else None,
                   newest.name if newest else None, export_time)
