"""What the external targets (SCIM, Moodle) do alike because the mirror holds their state.

Neither target has a transaction, so both keep a mirror of the people and groups they
fed; listing groups, repairing the mirror after ``verify`` and planning against the LMS
as read are then the same for both, whatever the protocol behind them.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from filebridge.lms.group_mirror import GroupMirror
from filebridge.lms.mirror import Entry, Mirror
from filebridge.lms.mirror_drift import Drift, live_entries, repair


class MirroredTarget:
    """Base of a target fed through the mirror: sets ``mirror``, ``groups_mirror``, ``_live``."""

    def __init__(self, mirror: Mirror, groups_mirror: GroupMirror) -> None:
        self.mirror = mirror
        self.groups_mirror = groups_mirror
        # Entries read from the LMS by ``plan --verify``, planned against instead of the mirror.
        self._live: dict[str, dict[str, Entry]] = {}

    def groups(self, connection: str | None) -> pd.DataFrame:
        """The groups (Moodle: cohorts) connections created in the LMS, with member counts."""
        return self.groups_mirror.table(connection)

    def group_members(self, connection: str, name: str) -> pd.DataFrame | None:
        """Members of a group ``connection`` created (None: it created no such group)."""
        return self.groups_mirror.members_of(connection, name)

    def repair(self, drift: Drift, now: datetime) -> None:
        """Make the mirror hold what the LMS holds, so the next plan corrects the LMS."""
        repair(self.mirror, drift, now)

    def plan_live(self, drift: Drift) -> None:
        """Plan ``drift.connection`` against the LMS as read, not the mirror (nothing is
        written: ``plan --verify``)."""
        self._live[drift.connection] = live_entries(self.mirror, drift)
