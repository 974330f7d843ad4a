"""Sending a plan to Moodle: each change at most once per run, each answer journaled.

Order: re-keys, creates, updates, suspensions, unsuspensions, cohorts, deletions. Every batch is
journaled ``sent`` before it leaves and settled (mirror and journal together) after
Moodle answers. Moodle applies a ``core_user_*`` call all or nothing, so a call it
refuses for the data sent is split in halves until the one refused person is found:
that person becomes a row error with Moodle's words, everyone else goes through.
Batches stay under the site's ``max_input_vars``, found from the site (PHP silently
drops the variables beyond it; see ``filebridge.lms.moodle.client``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from filebridge.failpoints import failpoint
from filebridge.lms.errors import StalePlan
from filebridge.lms.group_mirror import GroupMirror
from filebridge.lms.group_sync import GROUP_COUNTS, GroupSend, send_groups
from filebridge.lms.interface import ApplyResult, ChangeOutcome
from filebridge.lms.mirror import Entry, Mirror, Outcome
from filebridge.lms.mirror_state import check_fields
from filebridge.lms.moodle.client import MoodleCallFailed, MoodleClient, reason_of
from filebridge.lms.moodle.cohorts import MoodleCohorts
from filebridge.lms.moodle.errors import MoodleTruncated
from filebridge.lms.moodle.target import MoodleTarget
from filebridge.lms.moodle.users import idnumber_of, moodle_user, refusal_of, vars_per_user
from filebridge.person import KEY
from filebridge.plan.model import Plan

Item = tuple[str, dict[str, Any]]  # (employee id, the users[i] / userids[i] value)


def check_plan(plan: Plan, mine: dict[str, Entry]) -> None:
    """Refuse a plan that does not fit the mirror, before anything is sent."""
    check_fields(plan.fields)
    check_fields(plan.updates["field"].unique().tolist())
    c = plan.connection
    rekeyed = set(plan.rekeys["employee_id"].astype(str))
    known = (set(mine) - set(plan.rekeys["old_employee_id"].astype(str))) | rekeyed
    clash = set(plan.creates[KEY].astype(str)) & known
    if clash:
        raise StalePlan(c, "create", len(plan.creates), len(plan.creates) - len(clash))
    checks: tuple[tuple[str, pd.Series], ...] = (
        ("rekey", plan.rekeys["old_employee_id"]), ("update", plan.updates[KEY]),
        ("deactivate", plan.deactivations[KEY]), ("reactivate", plan.reactivations[KEY]),
        ("delete", plan.deletes[KEY]))
    for action, ids in checks:
        pool = set(mine) if action == "rekey" else known
        wanted = set(ids.astype(str))
        if wanted - pool:
            raise StalePlan(c, action, len(wanted), len(wanted & pool))


@dataclass
class Run:
    """One apply of one plan to one Moodle site."""

    plan: Plan
    target: MoodleTarget
    client: MoodleClient
    mirror: Mirror
    mine: dict[str, Entry]
    run_id: int | None
    now: datetime
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[ChangeOutcome] = field(default_factory=list)

    @property
    def connection(self) -> str:
        """The connection the plan is for."""
        return self.plan.connection

    def batches(self, items: Sequence[Item], per_item: int) -> Iterator[list[Item]]:
        """``items`` in runs that keep each request under the site's variable limit."""
        budget = self.client.budget()
        size = max(1, budget // max(1, per_item))
        for i in range(0, len(items), size):
            if i:
                # Crash tests: the batches before are settled, the rest are unsent.
                failpoint("mid-apply")
            yield list(items[i:i + size])

    def send(self, function: str, wrap: Callable[[list[Any]], dict[str, Any]],
             chunk: list[Item]) -> Iterator[tuple[list[Item], Any, MoodleCallFailed | None]]:
        """Call ``function`` for ``chunk``; a refused call is split until the refused
        people stand alone. Yields (items, answer, None) or ([item], None, refusal)."""
        if not chunk:
            return
        try:
            answer = self.client.call(function, wrap([value for _, value in chunk]))
        except MoodleCallFailed as exc:
            if len(chunk) == 1:
                yield chunk, None, exc
                return
            middle = len(chunk) // 2
            yield from self.send(function, wrap, chunk[:middle])
            yield from self.send(function, wrap, chunk[middle:])
            return
        yield chunk, answer, None

    def refuse(self, employee_id: str, action: str, reason: str, detail: str) -> Outcome:
        """A refused change: a row error of the run, and a ``failed`` journal row."""
        self.failed.append(ChangeOutcome(employee_id, action, "failed", reason, detail,
                                         self.lines.get(employee_id)))
        return Outcome(employee_id, action, False, reason, detail)

    @property
    def lines(self) -> dict[str, int | None]:
        """Source line of each person in the plan (for row errors)."""
        if not hasattr(self, "_lines"):
            out: dict[str, int | None] = {}
            for frame in (self.plan.creates, self.plan.updates, self.plan.deactivations,
                          self.plan.reactivations, self.plan.deletes, self.plan.rekeys):
                for eid, line in zip(frame[KEY].astype(str), frame["line"], strict=True):
                    out.setdefault(eid, None if pd.isna(line) else int(line))
            self._lines = out
        return self._lines


def apply_run(run: Run) -> ApplyResult:
    """Send the whole plan; see the module docstring."""
    plan = run.plan
    _rekeys(run)
    _creates(run)
    _updates(run)
    for frame, action, suspended in ((plan.deactivations, "deactivate", 1),
                                     (plan.reactivations, "reactivate", 0)):
        run.counts[action] = _suspend(run, frame[KEY].astype(str).tolist(), action, suspended)
    _cohorts(run)  # before the deletes: a deleted person's Moodle id is still known
    run.counts["delete"] = _deletes(run)
    return ApplyResult(dict(run.counts), list(run.failed))


def _cohorts(run: Run) -> None:
    """The plan's group changes as cohorts, through the road every external target
    shares."""
    if run.plan.groups_planned:
        run.counts.update(dict.fromkeys(GROUP_COUNTS, 0))
    if not len(run.plan.groups):
        return
    # The mirror, not ``run.mine``: it holds the accounts this run created too.
    people = run.mirror.entries(run.connection)
    send = GroupSend(run.connection, run.run_id, run.now, MoodleCohorts(run.client),
                     GroupMirror(run.mirror.engine),
                     {eid: e.lms_id for eid, e in people.items() if e.lms_id})
    send_groups(send, run.plan.groups)
    run.counts.update(send.counts)
    run.failed += send.failed


def _rekeys(run: Run) -> None:
    done = 0
    for row in run.plan.rekeys.itertuples(index=False):
        old, new = str(row.old_employee_id), str(row.employee_id)
        entry = run.mine[old]
        user: dict[str, Any] = {"id": int(entry.lms_id)}
        if run.target.idnumber == KEY:
            user["idnumber"] = new
        run.mirror.intend(run.connection, run.run_id, [(old, "rekey", entry.lms_id)], run.now)
        outcomes = _settled_updates(run, [(old, user)], "rekey", lambda eid: None)
        run.mirror.settle(run.connection, run.run_id, outcomes, run.now)
        if outcomes and outcomes[0].confirmed:
            run.mirror.rename(run.connection, old, new)
            run.mine[new] = Entry(new, entry.lms_id, entry.fingerprint, entry.active,
                                  {**entry.fields, **({KEY: new} if KEY in entry.fields
                                                      else {})})
            del run.mine[old]
            done += 1
    run.counts["rekey"] = done


def _creates(run: Run) -> None:
    records = run.plan.creates.to_dict("records")
    fields = [f for f in run.plan.fields if f != KEY]
    items: list[Item] = []
    fingerprints: dict[str, int] = {}
    stored: dict[str, dict[str, str]] = {}
    for record in records:
        eid = str(record[KEY])
        values = {f: _text(record.get(f)) for f in fields}
        values_with_key = {**values, KEY: eid}
        stored[eid] = values
        fingerprints[eid] = int(record["fingerprint"])
        items.append((eid, moodle_user(values_with_key, run.target, create=True)))
    created = 0
    for batch in run.batches(items, vars_per_user(run.target)):
        created += _create_batch(run, batch, stored, fingerprints)
    run.counts["create"] = created


def _create_batch(run: Run, batch: list[Item], stored: dict[str, dict[str, str]],
                  fingerprints: dict[str, int]) -> int:
    # An account with the same idnumber that this connection does not manage is never
    # duplicated, nor adopted without being asked.
    found = {str(u.get("idnumber", "")): u for u in run.client.users_by_field(
        "idnumber", [u["idnumber"] for _, u in batch if u["idnumber"]])}
    outcomes: list[Outcome] = []
    send: list[Item] = []
    for eid, user in batch:
        other = found.get(user["idnumber"]) if user["idnumber"] else None
        problem = refusal_of(user, run.target)
        if problem is not None:
            outcomes.append(run.refuse(eid, "create", "invalid-value", problem))
        elif other is not None:
            outcomes.append(run.refuse(eid, "create", "exists-in-moodle", (
                f"Moodle account {other.get('id')} ({other.get('username')}) already has "
                f"idnumber {user['idnumber']} and this connection does not manage it")))
        else:
            send.append((eid, user))
    run.mirror.intend(run.connection, run.run_id,
                      [(eid, "create", u["idnumber"]) for eid, u in batch], run.now)
    failpoint("moodle-create-intended")
    created, short = 0, None
    for chunk, answer, refusal in run.send("core_user_create_users",
                                           lambda users: {"users": users}, send):
        if refusal is not None:
            outcomes.append(run.refuse(chunk[0][0], "create", reason_of(refusal.errorcode),
                                       refusal.detail))
            continue
        failpoint("moodle-create-answered")
        by_name = {str(a.get("username", "")): a for a in answer or []
                   if isinstance(a, dict)}
        for eid, user in chunk:
            made = by_name.get(user["username"])
            if made is None:
                short = (len(chunk), len(by_name))  # left "sent": the next run looks it up
                continue
            outcomes.append(Outcome(eid, "create", True, entry=Entry(
                eid, str(made["id"]), fingerprints[eid], True, stored[eid])))
            created += 1
    run.mirror.settle(run.connection, run.run_id, outcomes, run.now)
    if short is not None:
        raise MoodleTruncated(run.target.url, "core_user_create_users", *short)
    return created


def _updates(run: Run) -> None:
    plan = run.plan
    new_fp = dict(zip(plan.fingerprints[KEY].astype(str),
                      plan.fingerprints["fingerprint"].astype("int64"), strict=True))
    changed: dict[str, dict[str, str]] = {}
    for eid, name, value in zip(plan.updates[KEY].astype(str), plan.updates["field"],
                                plan.updates["new"], strict=True):
        changed.setdefault(eid, {})[str(name)] = _text(value)
    items: list[Item] = []
    after: dict[str, Entry] = {}
    for eid, values in changed.items():
        entry = run.mine[eid]
        fields = {**entry.fields, **values}
        after[eid] = Entry(eid, entry.lms_id, int(new_fp.get(eid, entry.fingerprint)),
                           entry.active, fields)
        user = moodle_user({**fields, KEY: eid}, run.target, create=False)
        items.append((eid, {"id": int(entry.lms_id), **user}))
    outcomes: list[Outcome] = []
    sendable = []
    for eid, user in items:
        problem = refusal_of(user, run.target)
        if problem is None:
            sendable.append((eid, user))
        else:
            outcomes.append(run.refuse(eid, "update", "invalid-value", problem))
    if len(sendable) < len(items):
        run.mirror.intend(run.connection, run.run_id,
                          [(o.employee_id, "update", "") for o in outcomes], run.now)
        run.mirror.settle(run.connection, run.run_id, outcomes, run.now)
    for batch in run.batches(sendable, vars_per_user(run.target)):
        run.mirror.intend(run.connection, run.run_id,
                          [(eid, "update", str(u["id"])) for eid, u in batch], run.now)
        part = _settled_updates(run, batch, "update", after.get)
        run.mirror.settle(run.connection, run.run_id, part, run.now)
        failpoint("moodle-update-settled")
        outcomes += part
    confirmed = [o for o in outcomes if o.confirmed]
    run.counts["update"] = len(confirmed)
    run.counts["fields_updated"] = sum(len(changed[o.employee_id]) for o in confirmed)
    # A new fingerprint without a field change needs no call to Moodle.
    quiet = [Entry(eid, e.lms_id, int(fp), e.active, e.fields)
             for eid, fp in new_fp.items() if eid not in changed
             and (e := run.mine.get(eid)) is not None]
    if quiet:
        run.mirror.adopt(run.connection, quiet, run.now)


def _settled_updates(run: Run, batch: list[Item], action: str,
                     entry_of: Callable[[str], Entry | None]) -> list[Outcome]:
    """Send ``core_user_update_users`` for ``batch``; per-person outcomes (Moodle's
    warnings name the accounts it skipped)."""
    outcomes: list[Outcome] = []
    for chunk, answer, refusal in run.send("core_user_update_users",
                                           lambda users: {"users": users}, batch):
        if refusal is not None:
            outcomes.append(run.refuse(chunk[0][0], action, reason_of(refusal.errorcode),
                                       refusal.detail))
            continue
        warned = {str(w.get("itemid")): w for w in (answer or {}).get("warnings", [])
                  if isinstance(w, dict)} if isinstance(answer, dict) else {}
        for eid, user in chunk:
            warning = warned.get(str(user["id"]))
            if warning is not None:
                outcomes.append(run.refuse(eid, action,
                                           reason_of(str(warning.get("warningcode", ""))),
                                           str(warning.get("message", ""))))
            else:
                outcomes.append(Outcome(eid, action, True, entry=entry_of(eid)))
    return outcomes


def _suspend(run: Run, ids: list[str], action: str, suspended: int) -> int:
    items: list[Item] = [(eid, {"id": int(run.mine[eid].lms_id), "suspended": suspended})
                         for eid in ids]

    def entry_of(eid: str) -> Entry:
        e = run.mine[eid]
        return Entry(eid, e.lms_id, e.fingerprint, not suspended, e.fields)

    done = 0
    for batch in run.batches(items, 2):
        run.mirror.intend(run.connection, run.run_id,
                          [(eid, action, str(u["id"])) for eid, u in batch], run.now)
        outcomes = _settled_updates(run, batch, action, entry_of)
        run.mirror.settle(run.connection, run.run_id, outcomes, run.now)
        done += sum(o.confirmed for o in outcomes)
    return done


def _deletes(run: Run) -> int:
    items: list[Item] = [(eid, {"id": int(run.mine[eid].lms_id)})
                         for eid in run.plan.deletes[KEY].astype(str)]
    done = 0
    for batch in run.batches(items, 1):
        run.mirror.intend(run.connection, run.run_id,
                          [(eid, "delete", str(u["id"])) for eid, u in batch], run.now)
        outcomes: list[Outcome] = []
        for chunk, _, refusal in run.send(
                "core_user_delete_users",
                lambda users: {"userids": [u["id"] for u in users]}, batch):
            if refusal is not None:
                outcomes.append(run.refuse(chunk[0][0], "delete",
                                           reason_of(refusal.errorcode), refusal.detail))
            else:
                outcomes += [Outcome(eid, "delete", True) for eid, _ in chunk]
        run.mirror.settle(run.connection, run.run_id, outcomes, run.now)
        done += sum(o.confirmed for o in outcomes)
    return done


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


__all__ = ["Run", "apply_run", "check_plan", "idnumber_of"]
