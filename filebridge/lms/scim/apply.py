"""Applying a plan to a SCIM target, change by change, with an explicit guarantee.

A SCIM server has no transaction, so instead:

- each change is sent at most once per run (the journal says what this run already
  sent; a re-entered apply of the same run skips it);
- each change's outcome, confirmed or failed with the server's reason, is in the
  journal, and only confirmed changes move the mirror;
- after a run that died, the people it left ``sent`` are looked up by ``externalId``
  before anyone is created, so rerunning the same file converges to a clean run's LMS
  with no duplicate user.

Order: re-keyed rehires, creates (managers before their reports: wave by wave, or in
Bulk requests by ``bulkId:`` reference to a manager created in the same request), field
updates, deactivations and reactivations, group memberships (``group_sync``), deletes,
then a second pass that sets the managers nobody could point at before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pandas as pd

from filebridge.failpoints import failpoint
from filebridge.lms.errors import StalePlan
from filebridge.lms.group_mirror import GroupMirror
from filebridge.lms.group_sync import GROUP_COUNTS, GroupSend, send_groups
from filebridge.lms.interface import ApplyResult, ChangeOutcome
from filebridge.lms.mirror import UNSETTLED, Entry, Mirror, Outcome
from filebridge.lms.mirror_state import check_fields
from filebridge.lms.scim.features import Features
from filebridge.lms.scim.groups import ScimGroups
from filebridge.lms.scim.listing import find_by_key
from filebridge.lms.scim.resource import MANAGER, PATCH_OP, ResourceMapping
from filebridge.lms.scim.send import Change, Sender, bulk_id
from filebridge.lms.scim.session import ScimSession
from filebridge.person import KEY
from filebridge.plan.model import Plan


@dataclass
class _Pending:
    """A person whose manager had no SCIM id yet when the person was written."""

    employee_id: str
    manager: str
    fingerprint: int


@dataclass
class Run:
    """One apply: the plan, what the mirror holds, and what happened so far."""

    plan: Plan
    session: ScimSession
    features: Features
    mirror: Mirror
    mapping: ResourceMapping
    sender: Sender
    mine: dict[str, Entry]
    others: dict[str, Entry]
    already: set[tuple[str, str]]
    lines: dict[str, int | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[ChangeOutcome] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)

    def scim_id(self, employee_id: str) -> str | None:
        """The SCIM id of a person of this target (this connection's first)."""
        entry = self.mine.get(employee_id) or self.others.get(employee_id)
        return entry.lms_id if entry is not None and entry.lms_id else None

    def send(self, changes: list[Change]) -> list[Outcome]:
        """Send the changes this run has not sent yet; book their outcomes."""
        fresh = [c for c in changes if (c.employee_id, c.action) not in self.already]
        outcomes = self.sender.send(fresh)
        for o in outcomes:
            self.already.add((o.employee_id, o.action))
            if o.confirmed:
                self.counts[o.action] = self.counts.get(o.action, 0) + 1
                if o.entry is not None:
                    self.mine[o.employee_id] = o.entry
                elif o.action == "delete":
                    self.mine.pop(o.employee_id, None)
            else:
                self.failed.append(ChangeOutcome(o.employee_id, o.action, "failed", o.reason,
                                                 o.detail, self.lines.get(o.employee_id)))
        return outcomes

    def rebuild(self, record: dict[str, str], active: bool, manager: str | None
                ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """For a PUT: the resource as read, with every mapped attribute from ``record``."""
        return partial(self.mapping.replaced, record=record, active=active, manager=manager)

    def patch(self, employee_id: str, action: str, entry: Entry, ops: list[dict[str, Any]],
              rebuild: Callable[[dict[str, Any]], dict[str, Any]]) -> Change:
        """A change of an existing resource: PATCH when supported, else PUT."""
        path = f"Users/{entry.lms_id}"
        if not ops:
            return Change(employee_id, action, "NONE", path, None, entry)
        if self.features.patch:
            return Change(employee_id, action, "PATCH", path,
                          {"schemas": [PATCH_OP], "Operations": ops}, entry)
        return Change(employee_id, action, "PUT", path, None, entry, rebuild=rebuild)


def check_plan(plan: Plan, mine: Mapping[str, Entry]) -> None:
    """``StalePlan`` before anything is sent when the mirror no longer fits the plan."""
    check_fields(plan.fields)
    check_fields(plan.updates["field"].unique().tolist())
    c = plan.connection
    creates = plan.creates[KEY].astype(str).tolist()
    if found := [e for e in creates if e in mine]:
        raise StalePlan(c, "create", len(creates), len(creates) - len(found))
    rekeyed = set(plan.rekeys["old_employee_id"].astype(str)) if len(plan.rekeys) else set()
    for name in ("updates", "deactivations", "reactivations", "deletes"):
        ids = set(getattr(plan, name)[KEY].astype(str)) - set(plan.rekeys[KEY].astype(str))
        missing = ids - set(mine)
        if missing:
            raise StalePlan(c, name.rstrip("s"), len(ids), len(ids) - len(missing))
    if rekeyed - set(mine):
        raise StalePlan(c, "rekey", len(rekeyed), len(rekeyed & set(mine)))


def _lines(plan: Plan) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name in ("deletes", "deactivations", "reactivations", "updates", "creates", "rekeys"):
        frame = getattr(plan, name)
        if len(frame) and "line" in frame:
            for eid, line in zip(frame[KEY].astype(str), frame["line"], strict=True):
                out[eid] = None if pd.isna(line) else int(line)
    return out


def recover(run: Run) -> None:
    """Look up the people a dead run left ``sent``, and mirror those it did create."""
    c, now = run.plan.connection, run.sender.now
    open_changes = run.mirror.open_changes(c)
    if not open_changes:
        return
    creates = [e for e in open_changes.get("create", []) if e not in run.mine]
    found = find_by_key(run.session, run.features, run.mapping, creates,
                        run.sender.page_size) if creates else {}
    by_scim = {e.lms_id: eid for eid, e in {**run.others, **run.mine}.items()}
    adopted = [Entry(eid, str(r["id"]), UNSETTLED, bool(r.get("active", True)),
                     run.mapping.record(r, by_scim)) for eid, r in found.items()]
    run.mirror.adopt(c, adopted, now)
    run.mine.update({e.employee_id: e for e in adopted})
    run.mirror.close_lost(c, {e for ids in open_changes.values() for e in ids}, now)


def apply_run(run: Run) -> ApplyResult:
    """Send the whole plan; ``ApplyResult`` with counts and every refused change."""
    plan = run.plan
    run.lines = _lines(plan)
    recover(run)
    _rekeys(run)
    _creates(run)
    failpoint("mid-apply")  # crash tests: the creates are confirmed, the rest unsent
    _updates(run)
    for name, active in (("deactivations", False), ("reactivations", True)):
        _set_active(run, getattr(plan, name)[KEY].astype(str).tolist(), active)
    _groups(run)  # before the deletes: a deleted person's SCIM id is still known
    _deletes(run)
    _managers(run)
    counts = {a: run.counts.get(a, 0) for a in
              ("create", "update", "deactivate", "reactivate", "delete", "rekey")}
    counts["fields_updated"] = run.counts.get("fields_updated", 0)
    if plan.groups_planned:
        counts.update({k: run.counts.get(k, 0) for k in GROUP_COUNTS})
    counts["failed"] = len(run.failed)
    return ApplyResult(counts=counts, failed=run.failed)


def _record(entry: Entry, changes: Mapping[str, str]) -> dict[str, str]:
    return {**entry.fields, **changes, KEY: entry.employee_id}


def _rekeys(run: Run) -> None:
    changes = []
    for new, old in zip(run.plan.rekeys[KEY].astype(str),
                        run.plan.rekeys["old_employee_id"].astype(str), strict=True):
        entry = run.mine[old]
        record = {**entry.fields, KEY: new}
        moved = replace(entry, employee_id=new, fields=record)
        ops = run.mapping.operations(record, [KEY], run.scim_id(record.get(MANAGER, "")))
        sid = run.scim_id(record.get(MANAGER, ""))
        changes.append(replace(run.patch(new, "rekey", moved, ops,
                                         run.rebuild(record, entry.active, sid)), entry=None))
    for o in run.send(changes):
        old = run.plan.rekeys.loc[run.plan.rekeys[KEY].astype(str) == o.employee_id,
                                  "old_employee_id"].astype(str).iloc[0]
        if o.confirmed:
            run.mirror.rename(run.plan.connection, old, o.employee_id)
            entry = run.mine.pop(old)
            run.mine[o.employee_id] = replace(entry, employee_id=o.employee_id,
                                              fields={**entry.fields, KEY: o.employee_id})


def _waves(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Creates grouped so that every manager created in this run comes a wave earlier."""
    by_id = {r[KEY]: r for r in rows}
    depth: dict[str, int] = {}
    for row in rows:
        chain, eid = [], row[KEY]
        while eid in by_id and eid not in depth and eid not in chain:
            chain.append(eid)
            eid = by_id[eid].get(MANAGER, "")
        base = depth.get(eid, -1) if eid in by_id else -1
        for i, e in enumerate(reversed(chain)):
            depth[e] = base + 1 + i
    waves: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        waves.setdefault(depth[row[KEY]], []).append(row)
    return [waves[d] for d in sorted(waves)]


def _new(run: Run, record: dict[str, str], fp: int, manager_sid: str | None) -> Change:
    """The POST of a new person whose manager has ``manager_sid`` (None: not yet)."""
    eid, manager = record[KEY], record.get(MANAGER, "")
    stored = record
    if manager and manager_sid is None:
        stored, fp = {**record, MANAGER: ""}, UNSETTLED
    return Change(eid, "create", "POST", "Users", run.mapping.resource(stored, True, manager_sid),
                  Entry(eid, "", fp, True, stored))


def _referring(run: Run, record: dict[str, str], fp: int) -> Change:
    """The POST of a new person whose manager is created in the same Bulk request."""
    manager = record[MANAGER]
    plain = _new(run, record, fp, f"bulkId:{bulk_id(manager)}")
    return replace(plain, refers=manager, resolve=partial(_new, run, record, fp))


def _creates(run: Run) -> None:
    frame = run.plan.creates
    if not len(frame):
        return
    fields = [f for f in run.plan.fields if f in frame.columns]
    rows = frame[fields].fillna("").astype(str).to_dict("records")
    fps = dict(zip(frame[KEY].astype(str), frame["fingerprint"].astype("int64"), strict=True))
    waves = _waves(rows)
    if run.sender.references:  # one send, managers first: reports refer to them by bulkId
        waves = [[r for wave in waves for r in wave]]
    for wave in waves:
        fresh = {r[KEY] for r in wave if r[KEY] not in run.mine}
        changes = []
        for record in wave:
            eid = record[KEY]
            manager = record.get(MANAGER, "")
            sid = run.scim_id(manager) if manager else None
            fp = int(fps[eid])
            if run.sender.references and eid not in run.mine and sid is None \
                    and manager in fresh and manager != eid:
                changes.append(_referring(run, record, fp))
                continue
            if eid not in run.mine:
                if manager and sid is None:
                    run.pending.append(_Pending(eid, manager, fp))
                changes.append(_new(run, record, fp, sid))
                continue
            # Created by a run that died: bring it to the record.
            stored = record
            if manager and sid is None:
                run.pending.append(_Pending(eid, manager, fp))
                stored, fp = {**record, MANAGER: ""}, UNSETTLED
            entry = Entry(eid, run.mine[eid].lms_id, fp, True, stored)
            body = run.mapping.resource(stored, True, sid)
            ops = [{"op": "replace", "value": {k: v for k, v in body.items()
                                               if k != "schemas"}}]
            changes.append(run.patch(eid, "create", entry, ops, run.rebuild(stored, True, sid)))
        run.send(changes)
        for eid in run.sender.detached:
            record = next(r for r in wave if r[KEY] == eid)
            run.pending.append(_Pending(eid, record[MANAGER], int(fps[eid])))
        run.sender.detached.clear()


def _updates(run: Run) -> None:
    frame = run.plan.updates
    fps = dict(zip(run.plan.fingerprints[KEY].astype(str),
                   run.plan.fingerprints["fingerprint"].astype("int64"), strict=True))
    changes = []
    grouped = frame.groupby(KEY, sort=True) if len(frame) else []
    for eid, group in grouped:
        eid = str(eid)
        entry = run.mine[eid]
        new = dict(zip(group["field"].astype(str), group["new"].fillna("").astype(str),
                       strict=True))
        record = _record(entry, new)
        fp = int(fps.get(eid, entry.fingerprint))
        manager = record.get(MANAGER, "")
        sid = run.scim_id(manager) if manager else None
        if MANAGER in new and manager and sid is None:
            run.pending.append(_Pending(eid, manager, fp))
            record, fp = {**record, MANAGER: entry.fields.get(MANAGER, "")}, UNSETTLED
            sid = run.scim_id(record[MANAGER]) if record[MANAGER] else None
        run.counts["fields_updated"] = run.counts.get("fields_updated", 0) + len(new)
        ops = run.mapping.operations(record, list(new), sid)
        target = replace(entry, fingerprint=fp, fields=record)
        changes.append(run.patch(eid, "update", target, ops,
                                 run.rebuild(record, entry.active, sid)))
    # Fingerprint-only changes (a field outside the plan's columns) touch the mirror only.
    for eid, fp in fps.items():
        if eid not in set(frame[KEY].astype(str)) and eid in run.mine:
            changes.append(Change(eid, "update", "NONE", "", None,
                                  replace(run.mine[eid], fingerprint=int(fp))))
    run.send(changes)


def _set_active(run: Run, ids: list[str], active: bool) -> None:
    action = "reactivate" if active else "deactivate"
    changes = []
    for eid in ids:
        entry = run.mine[eid]
        target = replace(entry, active=active)
        record = _record(entry, {})
        sid = run.scim_id(record.get(MANAGER, "")) if record.get(MANAGER) else None
        ops = [{"op": "replace", "path": "active", "value": active}]
        changes.append(run.patch(eid, action, target, ops, run.rebuild(record, active, sid)))
    run.send(changes)


def _groups(run: Run) -> None:
    """The plan's group changes, through the road every external target shares."""
    if not len(run.plan.groups) or not run.features.groups:
        return
    send = GroupSend(run.plan.connection, run.sender.run_id, run.sender.now,
                     ScimGroups(run.session, run.features, run.sender.page_size),
                     GroupMirror(run.mirror.engine),
                     {eid: e.lms_id for eid, e in run.mine.items() if e.lms_id})
    send_groups(send, run.plan.groups)
    for name, n in send.counts.items():
        run.counts[name] = run.counts.get(name, 0) + n
    run.failed += send.failed


def _deletes(run: Run) -> None:
    ids = run.plan.deletes[KEY].astype(str).tolist()
    run.send([Change(e, "delete", "DELETE", f"Users/{run.mine[e].lms_id}", None, None)
              for e in ids if e in run.mine])


def _managers(run: Run) -> None:
    """Second pass: point people at managers who exist now."""
    changes = []
    for p in run.pending:
        entry = run.mine.get(p.employee_id)
        sid = run.scim_id(p.manager)
        if entry is None or not entry.lms_id:
            continue  # the person's own change failed and is reported already
        if sid is None:
            run.failed.append(ChangeOutcome(
                p.employee_id, "manager", "failed", "unknown-manager",
                f"manager {p.manager} is not in the LMS", run.lines.get(p.employee_id)))
            continue
        record = {**entry.fields, MANAGER: p.manager}
        ops = run.mapping.operations(record, [MANAGER], sid)
        target = replace(entry, fingerprint=p.fingerprint, fields=record)
        changes.append(run.patch(p.employee_id, "manager", target, ops,
                                 run.rebuild(record, entry.active, sid)))
    run.send(changes)
    run.counts.pop("manager", None)
