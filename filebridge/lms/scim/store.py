"""``ScimLms``: one connection's SCIM 2.0 service provider behind the ``Lms`` interface.

The plan reads the mirror (``MirrorState``); ``apply`` sends the plan as described in
``filebridge.lms.scim.apply``; ``verify`` lists the LMS to find what changed there by
hand. Plain SCIM has no course results, so ``completions`` is not a capability: the
export road reads results loaded with ``filebridge lms load-completions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import httpx2
import pandas as pd
from sqlalchemy.engine import Engine

from filebridge.config.secrets import resolve_secret
from filebridge.lms.interface import ApplyResult, Capabilities, Receipt
from filebridge.lms.scim.apply import Run, apply_run, check_plan
from filebridge.lms.scim.errors import ScimNotConfigured
from filebridge.lms.scim.features import Features, discover
from filebridge.lms.scim.mirror import COMPONENT, MIGRATIONS, Mirror
from filebridge.lms.scim.resource import ResourceMapping
from filebridge.lms.scim.send import Sender
from filebridge.lms.scim.session import ScimSession
from filebridge.lms.scim.state import MirrorState
from filebridge.lms.scim.target import ScimTarget
from filebridge.plan.model import Plan
from filebridge.sql import migrate

CAPABILITIES = Capabilities(transactions=False, completions=False, org=False, undo=False,
                            adopt=False, groups=False)


class ScimLms:
    """A SCIM target for one connection; the mirror lives in ``engine`` (the state
    database). ``siblings`` are other connections feeding the same server."""

    capabilities = CAPABILITIES

    def __init__(self, connection: str, target: ScimTarget, engine: Engine, *,
                 siblings: Sequence[str] = (),
                 transport: httpx2.BaseTransport | None = None) -> None:
        self.connection = connection
        self.target = target
        self.location = target.location
        self.mirror = Mirror(engine)
        self.engine = engine
        self.siblings = tuple(siblings)
        self.mapping = ResourceMapping(target.attributes, target.user_name)
        self._transport = transport
        self._session: ScimSession | None = None
        self._features: Features | None = None

    # -- the Lms interface -------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create or migrate the mirror's tables; nothing is asked of the server yet."""
        return migrate(self.engine, COMPONENT, MIGRATIONS)

    def state(self, connection: str) -> MirrorState:
        """The mirror of ``connection`` (the only connection this target serves)."""
        self._check(connection)
        return MirrorState(self.mirror, connection, self.siblings)

    def apply(self, plan: Plan, run_id: int | None, now: datetime,
              receipt: Receipt | None = None) -> ApplyResult:
        """Send ``plan``: each change at most once, each outcome in the journal."""
        self._check(plan.connection)
        mine = self.mirror.entries(plan.connection)
        check_plan(plan, mine)
        features = self.features(fresh=True)
        session = self.session()
        session.start_run()
        others = {eid: e for c in self.siblings for eid, e in self.mirror.entries(c).items()}
        already = (self.mirror.sent_in_run(plan.connection, run_id)
                   if run_id is not None else set())
        sender = Sender(session, features, self.mirror, plan.connection, run_id, now,
                        bulk=self.target.bulk, page_size=self.target.page_size)
        run = Run(plan, session, features, self.mirror, self.mapping, sender, mine, others,
                  already)
        result = apply_run(run)
        if receipt is not None:
            receipt.write(result.counts, None)
        return result

    def users(self, connection: str | None, *, active: bool | None = None,
              limit: int | None = None) -> pd.DataFrame:
        """Mirrored people with their SCIM id and fields, one connection's or all."""
        frame = self.mirror.frame(connection)
        if active is not None:
            frame = frame[frame["active"] == active]
        frame = frame.rename(columns={"connection": "managed_by"})
        return frame.head(limit).reset_index(drop=True) if limit is not None else \
            frame.reset_index(drop=True)

    def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- beyond the interface ----------------------------------------------------------

    def session(self) -> ScimSession:
        """The HTTP session, opened on first use (the token is resolved then)."""
        if self._session is None:
            token = resolve_secret(self.target.token)
            self._session = ScimSession(self.connection, self.target, token,
                                        transport=self._transport)
        return self._session

    def features(self, fresh: bool = False) -> Features:
        """What the server supports, read from its discovery endpoints (once per run)."""
        if self._features is None or fresh:
            if fresh:
                self.close()  # a new session forgets what the last run discovered
            self._features = discover(self.session())
        return self._features

    def _check(self, connection: str) -> None:
        if connection != self.connection:
            raise ScimNotConfigured(connection)
