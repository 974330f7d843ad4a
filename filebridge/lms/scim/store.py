"""``ScimLms``: one connection's SCIM 2.0 service provider behind the ``Lms`` interface.

The plan reads the mirror (``MirrorState``); ``apply`` sends the plan as described in
``filebridge.lms.scim.apply``; ``verify`` lists the LMS to find what changed there by
hand. Plain SCIM has no course results, so ``completions`` is not a capability: the
export road reads results loaded with ``filebridge lms load-completions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import httpx2
import pandas as pd
from sqlalchemy.engine import Engine

from filebridge.config.secrets import resolve_secret
from filebridge.errors import FilebridgeError
from filebridge.lms.group_mirror import GroupMirror
from filebridge.lms.group_sync import group_drift
from filebridge.lms.interface import ApplyResult, Capabilities, Receipt
from filebridge.lms.mirror import COMPONENT, MIGRATIONS, Mirror
from filebridge.lms.mirror_drift import Drift
from filebridge.lms.mirror_state import MirrorState
from filebridge.lms.mirrored import MirroredTarget
from filebridge.lms.runmarks import committed_run, send_marked
from filebridge.lms.scim.apply import Run, apply_run, check_plan
from filebridge.lms.scim.errors import ScimNotConfigured
from filebridge.lms.scim.features import Features, discover
from filebridge.lms.scim.groups import ScimGroups
from filebridge.lms.scim.resource import ResourceMapping
from filebridge.lms.scim.send import Sender
from filebridge.lms.scim.session import ScimSession
from filebridge.lms.scim.target import Retry, ScimTarget, Timeouts
from filebridge.lms.scim.verify import find_drift
from filebridge.plan.model import Plan
from filebridge.sql import migrate


def mapping_of(target: ScimTarget) -> ResourceMapping:
    """How ``target``'s people become SCIM Users."""
    return ResourceMapping(target.attributes, target.user_name, target.key)


# Groups where the server has them: ``keeps_groups`` asks it, per connection.
CAPABILITIES = Capabilities(transactions=False, completions=False, org=False, undo=False,
                            adopt=False, groups=True)


class ScimLms(MirroredTarget):
    """The SCIM targets of one or more connections (``targets``: connection → target);
    their mirror lives in ``engine``, the state database. Connections sending to the same
    URL see each other's people (managers, e-mail clashes)."""

    capabilities = CAPABILITIES

    def __init__(self, targets: Mapping[str, ScimTarget], engine: Engine, *,
                 transport: httpx2.BaseTransport | None = None) -> None:
        self.targets = dict(targets)
        urls = sorted({t.location for t in self.targets.values()})
        self.location = urls[0] if len(urls) == 1 else ", ".join(urls)
        super().__init__(Mirror(engine), GroupMirror(engine))
        self.engine = engine
        self._transport = transport
        self._sessions: dict[str, ScimSession] = {}
        self._features: dict[str, Features] = {}

    # -- the Lms interface -------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create or migrate the mirror's tables; nothing is asked of the servers yet."""
        return migrate(self.engine, COMPONENT, MIGRATIONS)

    def state(self, connection: str) -> MirrorState:
        """The mirror of ``connection`` (with the LMS's drift, after ``plan_live``)."""
        self.target(connection)
        return MirrorState(self.mirror, connection, self.siblings(connection),
                           self._live.get(connection))

    def apply(self, plan: Plan, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Send ``plan``: each change at most once, each outcome in the journal."""
        c = plan.connection
        target = self.target(c)
        mine = self.mirror.entries(c)
        check_plan(plan, mine)
        if receipt is not None:
            receipt.check()  # nothing is sent for a run whose connection lock was lost
        features = self.features(c, fresh=True)
        session = self.session(c)
        session.start_run()
        others = {eid: e for s in self.siblings(c) for eid, e in self.mirror.entries(s).items()}
        already = self.mirror.sent_in_run(c, run_id) if run_id is not None else set()
        mapping = mapping_of(target)
        sender = Sender(session, features, self.mirror, c, run_id, now, bulk=target.bulk,
                        page_size=target.page_size, mapping=mapping)
        run = Run(plan, session, features, self.mirror, mapping, sender, mine, others,
                  already)
        return send_marked(self.engine, plan, run_id, now, receipt, lambda: apply_run(run))

    def committed_run(self, connection: str, run_id: int, digest: str
                      ) -> dict[str, int] | None:
        """The counts of a run that sent its whole plan, as marked when it ended; None
        when it never got to the end."""
        return committed_run(self.engine, connection, run_id, digest)

    def confirmed_in_run(self, connection: str, run_id: int) -> dict[str, int]:
        """Changes of ``run_id`` the server confirmed, by action (a run cut short)."""
        return self.mirror.confirmed_in_run(connection, run_id)

    def users(self, connection: str | None, *, active: bool | None = None,
              limit: int | None = None) -> pd.DataFrame:
        """Mirrored people (the fields as last confirmed by the LMS, their SCIM id),
        ordered by connection and employee id (None = everyone)."""
        frame = self.mirror.frame(connection)
        if active is not None:
            frame = frame[frame["active"] == active]
        if limit is not None:
            frame = frame.head(limit)
        fields = pd.DataFrame([json.loads(f) for f in frame["fields"]], dtype=object)
        fields = fields.drop(columns=["employee_id"], errors="ignore").fillna("")
        base = frame.drop(columns=["fields"]).rename(columns={"connection": "managed_by",
                                                              "lms_id": "scim_id"})
        return pd.concat([base[["managed_by", "employee_id"]].reset_index(drop=True), fields,
                          base[["active", "scim_id", "updated_at", "deactivated_at"]]
                          .reset_index(drop=True)], axis=1)

    def close(self) -> None:
        """Close every HTTP session."""
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    # -- beyond the interface ----------------------------------------------------------

    def target(self, connection: str) -> ScimTarget:
        """``connection``'s target; ``ScimNotConfigured`` when it has none."""
        if connection not in self.targets:
            raise ScimNotConfigured(connection)
        return self.targets[connection]

    def siblings(self, connection: str) -> list[str]:
        """Other connections feeding the same SCIM server."""
        url = self.target(connection).url
        return [c for c, t in self.targets.items() if t.url == url and c != connection]

    def session(self, connection: str) -> ScimSession:
        """``connection``'s HTTP session, opened on first use (the token is resolved then)."""
        if connection not in self._sessions:
            target = self.target(connection)
            self._sessions[connection] = ScimSession(
                connection, target, resolve_secret(target.token), transport=self._transport)
        return self._sessions[connection]

    def features(self, connection: str, fresh: bool = False) -> Features:
        """What ``connection``'s server supports, from its discovery endpoints."""
        if connection not in self._features or fresh:
            if fresh and connection in self._sessions:
                # A new session forgets what the last run discovered.
                self._sessions.pop(connection).close()
            self._features[connection] = discover(self.session(connection))
        return self._features[connection]

    def verify(self, connection: str) -> Drift:
        """List the LMS (page by page) and compare it with ``connection``'s mirror, and
        read each group it owns there."""
        target = self.target(connection)
        others = {eid: e for s in self.siblings(connection)
                  for eid, e in self.mirror.entries(s).items()}
        features = self.features(connection, fresh=True)
        drift = find_drift(self.session(connection), features, self.mirror,
                           mapping_of(target), connection, target.page_size, others)
        if features.groups:
            people = {eid: e.lms_id for eid, e in self.mirror.entries(connection).items()}
            drift.groups = group_drift(self._groups(connection, features), self.groups_mirror,
                                       connection, people)
        return drift

    # -- groups ------------------------------------------------------------------------

    def keeps_groups(self, connection: str) -> bool:
        """Whether ``connection``'s server has Groups (asked once, from /ResourceTypes)."""
        return self.features(connection).groups

    def _groups(self, connection: str, features: Features) -> ScimGroups:
        return ScimGroups(self.session(connection), features, self.target(connection).page_size)

    def reachability(self, connection: str) -> tuple[bool, str]:
        """Whether ``connection``'s server answers its discovery endpoints with this
        token, and what it supports; quick (5 s) and without retries."""
        target = self.target(connection)
        quick = replace(target, timeouts=Timeouts(connect=5, read=5, run=15),
                        retry=Retry(attempts=1))
        try:
            session = ScimSession(connection, quick, resolve_secret(target.token),
                                  transport=self._transport)
        except FilebridgeError as exc:
            return False, str(exc)
        try:
            return True, discover(session).summary()
        except FilebridgeError as exc:
            return False, str(exc)
        finally:
            session.close()
