"""``MoodleLms``: the Moodle sites of one or more connections behind the ``Lms`` interface.

The plan reads the mirror every external target shares (``filebridge.lms.mirror``,
``MirrorState``); ``apply`` sends the plan as described in
``filebridge.lms.moodle.apply``. Before a connection is planned, changes a dead run
left without an answer are looked up in Moodle by ``idnumber`` (creates) or id
(deletions), so a rerun neither duplicates an account nor forgets one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

import pandas as pd
from sqlalchemy.engine import Engine

from filebridge.config.secrets import resolve_secret
from filebridge.errors import FilebridgeError
from filebridge.lms.group_mirror import GroupMirror
from filebridge.lms.group_sync import group_drift
from filebridge.lms.interface import ApplyResult, Capabilities, Receipt
from filebridge.lms.mirror import COMPONENT, MIGRATIONS, UNSETTLED, Entry, Mirror
from filebridge.lms.mirror_drift import Drift
from filebridge.lms.mirror_state import MirrorState
from filebridge.lms.mirrored import MirroredTarget
from filebridge.lms.moodle import link
from filebridge.lms.moodle.apply import Run, apply_run, check_plan
from filebridge.lms.moodle.client import MoodleClient
from filebridge.lms.moodle.cohorts import COHORT_FUNCTIONS, MoodleCohorts
from filebridge.lms.moodle.errors import CAPABILITIES, MoodleAccessDenied, MoodleNotConfigured
from filebridge.lms.moodle.target import MoodleTarget, Timeouts
from filebridge.lms.moodle.users import canonical_from
from filebridge.lms.moodle.verify import find_drift
from filebridge.lms.runmarks import committed_run, send_marked
from filebridge.person import KEY
from filebridge.plan.model import Plan
from filebridge.sql import migrate

CAPABILITIES_OF_TARGET = Capabilities(transactions=False, completions=False, org=False,
                                      undo=False, adopt=True, groups=True)
# Functions every apply may call; checked against the token's service before sending.
NEEDED = ("core_user_create_users", "core_user_update_users",
          "core_user_get_users_by_field")


class MoodleLms(MirroredTarget):
    """The Moodle targets of some connections (``targets``: connection → target); their
    mirror lives in ``engine``, the state database."""

    capabilities = CAPABILITIES_OF_TARGET

    def __init__(self, targets: Mapping[str, MoodleTarget], engine: Engine) -> None:
        self.targets = dict(targets)
        urls = sorted({t.location for t in self.targets.values()})
        self.location = ", ".join(urls) or "moodle"
        super().__init__(Mirror(engine), GroupMirror(engine))
        self.engine = engine
        self._clients: dict[str, MoodleClient] = {}
        self._checked: set[tuple[str, tuple[str, ...]]] = set()

    def prepare(self) -> list[str]:
        """Create or migrate the mirror's tables; nothing is asked of Moodle yet."""
        return migrate(self.engine, COMPONENT, MIGRATIONS)

    def state(self, connection: str) -> MirrorState:
        """The mirror of ``connection`` (with Moodle's drift, after ``plan_live``), after
        settling what a dead run left open."""
        self.recover(connection, datetime.now(UTC))
        return MirrorState(self.mirror, connection, self.siblings(connection),
                           self._live.get(connection))

    def apply(self, plan: Plan, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Send ``plan``: each change at most once, each outcome in the journal."""
        c = plan.connection
        self.target(c)
        self.recover(c, now)
        mine = self.mirror.entries(c)
        check_plan(plan, mine)
        client = self.client(c)
        if not plan.is_empty():
            self.check_service(c, deletes=len(plan.deletes) > 0, functions=NEEDED + (
                COHORT_FUNCTIONS if len(plan.groups) else ()))
        if receipt is not None:
            receipt.check()  # nothing is sent for a run whose connection lock was lost
        return send_marked(self.engine, plan, run_id, now, receipt, lambda: apply_run(
            Run(plan, self.target(c), client, self.mirror, mine, run_id, now)))

    def committed_run(self, connection: str, run_id: int, digest: str
                      ) -> dict[str, int] | None:
        """The counts of a run that sent its whole plan, as marked when it ended; None
        when it never got to the end."""
        return committed_run(self.engine, connection, run_id, digest)

    def confirmed_in_run(self, connection: str, run_id: int) -> dict[str, int]:
        """Changes of ``run_id`` Moodle confirmed, by action (a run cut short)."""
        return self.mirror.confirmed_in_run(connection, run_id)

    def users(self, connection: str | None, *, active: bool | None = None,
              limit: int | None = None) -> pd.DataFrame:
        """Mirrored people with their Moodle id and fields, one connection's or all."""
        frame = self.mirror.frame(connection)
        if active is not None:
            frame = frame[frame["active"] == active]
        fields = [json.loads(f) for f in frame["fields"]]
        names = sorted({k for f in fields for k in f} - {KEY})
        extra = pd.DataFrame([[f.get(n, "") for n in names] for f in fields], columns=names,
                             index=frame.index, dtype=object)
        frame = pd.concat([frame.drop(columns=["fields"]), extra], axis=1)
        frame = frame.rename(columns={"connection": "managed_by"}).reset_index(drop=True)
        return frame.head(limit) if limit is not None else frame

    def close(self) -> None:
        """Nothing stays open between calls."""
        self._clients.clear()

    def target(self, connection: str) -> MoodleTarget:
        """``connection``'s target; ``MoodleNotConfigured`` when it has none."""
        if connection not in self.targets:
            raise MoodleNotConfigured(connection)
        return self.targets[connection]

    def client(self, connection: str) -> MoodleClient:
        """``connection``'s REST client (the token is resolved on first use)."""
        if connection not in self._clients:
            target = self.target(connection)
            self._clients[connection] = MoodleClient(target, resolve_secret(target.token))
        return self._clients[connection]

    def check_service(self, connection: str, *, deletes: bool = False,
                      functions: tuple[str, ...] = NEEDED) -> None:
        """Refuse to start when the token's service lacks one of ``functions`` (and, with
        ``deletes``, ``core_user_delete_users``): ``MoodleAccessDenied`` names it and the
        capabilities it needs."""
        needed = functions + (("core_user_delete_users",) if deletes else ())
        if (connection, needed) in self._checked:
            return
        client = self.client(connection)
        info = client.site_info()
        offered = {str(f.get("name")) for f in info.get("functions") or []
                   if isinstance(f, dict)}
        for function in needed:
            if function not in offered:
                raise MoodleAccessDenied(self.target(connection).url, function,
                                         "accessexception",
                                         "the function is not in the token's service")
        self._checked.add((connection, needed))

    def reachability(self, connection: str) -> tuple[bool, str]:
        """Whether ``connection``'s site answers with this token, and which Moodle it is;
        quick (5 s), and it names a function missing from the token's service."""
        target = self.target(connection)
        quick = replace(target, timeouts=Timeouts(connect=5, read=5))
        try:
            client = MoodleClient(quick, resolve_secret(target.token))
            info = client.site_info()
        except FilebridgeError as exc:
            return False, str(exc)
        offered = {str(f.get("name")) for f in info.get("functions") or []
                   if isinstance(f, dict)}
        missing = [f for f in NEEDED if f not in offered]
        if missing:
            return False, f"the token's service lacks {', '.join(missing)}"
        return True, (f"Moodle {info.get('release', '?')}, web services as "
                      f"{info.get('username', '?')}")

    def adoption_candidates(self, connection: str, people: pd.DataFrame,
                            by: Literal["email", "employee_id"]) -> pd.DataFrame:
        """Moodle accounts no connection of this site manages that match the file's
        people on ``by`` (see ``filebridge.lms.moodle.link``)."""
        self.check_service(connection, functions=("core_user_get_users_by_field",))
        site = [connection, *self.siblings(connection)]
        managed = {e.lms_id for c in site for e in self.mirror.entries(c).values()}
        return link.candidates(self.client(connection), self.target(connection), people, by,
                               managed, set(self.mirror.entries(connection)))

    def adopt(self, connection: str, pairs: pd.DataFrame, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Mirror the adoptable accounts of ``pairs`` as ``connection``'s people."""
        done = link.adopt(self.client(connection), self.target(connection), self.mirror,
                          connection, pairs, run_id, now)
        result = ApplyResult({"adopt": done})
        if receipt is not None:
            receipt.write(result.counts, None)
        return result

    def siblings(self, connection: str) -> list[str]:
        """Other connections feeding the same Moodle site."""
        url = self.target(connection).url
        return [c for c, t in self.targets.items() if t.url == url and c != connection]

    def verify(self, connection: str) -> Drift:
        """Read back every account ``connection`` manages and compare it with the mirror
        (see ``filebridge.lms.moodle.verify``)."""
        cohorts = self.groups_mirror.owned(connection)
        self.check_service(connection, functions=("core_user_get_users_by_field",) + (
            ("core_cohort_get_cohort_members",) if cohorts else ()))
        drift = find_drift(self.mirror, self.client(connection), self.target(connection),
                           connection)
        if cohorts:
            people = {eid: e.lms_id for eid, e in self.mirror.entries(connection).items()}
            drift.groups = group_drift(MoodleCohorts(self.client(connection)),
                                       self.groups_mirror, connection, people)
        return drift

    def recover(self, connection: str, now: datetime) -> list[str]:
        """Look up the changes a dead run sent without an answer; adopt what Moodle has.

        A create is looked up by the idnumber it carried: an account Moodle made is
        mirrored (its fingerprint unsettled, so the next plan compares every field), one
        it did not make is created by the next plan. A deletion whose account is gone
        leaves the mirror. Returns the employee ids whose open changes were settled.
        """
        open_changes = self.mirror.open_keys(connection)
        if not open_changes:
            return []
        client, target = self.client(connection), self.target(connection)
        creates = {key: eid for eid, action, key in open_changes if action == "create" and key}
        found = client.users_by_field("idnumber", list(creates)) if creates else []
        adopted = [Entry(creates[str(u["idnumber"])], str(u["id"]), UNSETTLED,
                         not u.get("suspended", False), canonical_from(u, target))
                   for u in found if str(u.get("idnumber", "")) in creates]
        if adopted:
            self.mirror.adopt(connection, adopted, now)
        deletes = {key: eid for eid, action, key in open_changes if action == "delete"}
        if deletes:
            still = {str(u["id"]) for u in client.users_by_field("id", list(deletes))}
            self.mirror.forget(connection, [eid for key, eid in deletes.items()
                                            if key not in still])
        ids = [eid for eid, _, _ in open_changes]
        self.mirror.close_lost(connection, ids, now)
        return ids


__all__ = ["CAPABILITIES", "MoodleLms"]
