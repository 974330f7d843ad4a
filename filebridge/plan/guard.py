"""The guard: decide whether a plan may apply now or must wait for approval.

Pure and conservative. The cases that hurt users of sync tools are spelled out:
the first import into an empty LMS is not a mass change; an empty snapshot against
an empty LMS is a no-op; an empty, truncated or mostly rejected snapshot against a
non-empty LMS is always held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from filebridge.plan.model import Plan

Reaction = Literal["hold", "warn"]
ACTIONS = ("create", "update", "deactivate", "reactivate", "delete")
# Every reason a run can be held; each has an entry in the words the CLI prints.
HoldCode = Literal["empty-snapshot", "too-many-rejected", "stale-file", "row-count-drop",
                   "too-many-create", "too-many-update", "too-many-deactivate",
                   "too-many-reactivate", "too-many-delete", "repeated-content"]
HOLD_CODES: frozenset[str] = frozenset(get_args(HoldCode))
_TOO_MANY: dict[str, HoldCode] = {
    "create": "too-many-create", "update": "too-many-update",
    "deactivate": "too-many-deactivate", "reactivate": "too-many-reactivate",
    "delete": "too-many-delete"}


@dataclass(frozen=True)
class Limit:
    """A threshold for one action, crossed when the number of people is above ``percent``
    of the managed people AND above ``count``.

    Both must be crossed so that a small company is not held for two leavers and a large
    one is not held for a handful; ``None`` switches a bound off (only the other one
    counts), and with both off the action is never held.
    """

    percent: float | None = None
    count: int | None = None
    reaction: Reaction = "hold"


@dataclass(frozen=True)
class GuardPolicy:
    """Thresholds of one connection (defaults: deactivations and deletes hold when they are
    over 5% of the managed people and over 10 people)."""

    limits: tuple[tuple[str, Limit], ...] = (("deactivate", Limit(5.0, 10, "hold")),
                                             ("delete", Limit(5.0, 10, "hold")))
    max_rejected_percent: float = 2.0
    max_row_drop_percent: float | None = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GuardPolicy:
        """Read a connection's ``thresholds`` block; absent keys keep the safe defaults.

        Within one action, an absent ``percent`` or ``count`` keeps its default and an
        explicit null switches it off.
        """
        limits = dict(cls().limits)
        for action in ACTIONS:
            if action in config:
                c, base = config[action] or {}, limits.get(action, Limit())
                limits[action] = Limit(c.get("percent", base.percent), c.get("count", base.count),
                                       c.get("reaction", base.reaction))
        rejected = float(config.get("rejected_percent", cls.max_rejected_percent))
        drop = config.get("row_drop_percent", cls.max_row_drop_percent)
        return cls(tuple(limits.items()), rejected, None if drop is None else float(drop))


@dataclass(frozen=True)
class History:
    """What the ledger knows about earlier runs of the connection, for the guard."""

    last_snapshot_rows: int | None = None  # data rows of the last applied snapshot
    last_export_time: datetime | None = None  # newest export time among applied files
    last_file: str | None = None  # the file that export time came from
    export_time: datetime | None = None  # this file's own export time


@dataclass(frozen=True)
class Hold:
    """One reason a run is held (or, with reaction warn, only flagged)."""

    code: HoldCode
    message: str
    reaction: Reaction = "hold"

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"code": self.code, "message": self.message, "reaction": self.reaction}


def judge(plan: Plan, managed: int, rows_total: int, rows_rejected: int,
          policy: GuardPolicy, history: History | None = None) -> list[Hold]:
    """Every reason this plan should not apply unattended (empty list: go ahead)."""
    holds: list[Hold] = []
    if plan.is_empty():
        return holds  # nothing would change, so there is nothing to hold
    history = history or History()
    holds += stale_holds(history)
    if plan.file_kind == "snapshot" and managed > 0:
        holds += _row_drop(rows_total, history, policy)
    if plan.file_kind == "snapshot" and managed > 0:
        if rows_total == 0:
            holds.append(Hold("empty-snapshot", f"the file has no rows but {managed} people are "
                              "managed by this connection; nobody is deactivated"))
        elif rows_total and rows_rejected / rows_total * 100 > policy.max_rejected_percent:
            share = rows_rejected / rows_total * 100
            holds.append(Hold("too-many-rejected", f"{rows_rejected} of {rows_total} rows "
                              f"({share:.1f}%) were rejected, more than "
                              f"{policy.max_rejected_percent:g}%"))
    counts = plan.counts()
    for action, limit in policy.limits:
        n = counts.get(action, 0)
        if managed == 0 or n == 0:
            continue  # the first import into an empty LMS is not a mass change
        if crossed(limit, n, managed):
            bound = " and ".join(x for x in (
                f"more than {limit.percent:g}% of {managed}" if limit.percent is not None
                else "", f"more than {limit.count}" if limit.count is not None else "") if x)
            holds.append(Hold(_TOO_MANY[action], f"{n} {action}s exceed the threshold "
                              f"({bound})", limit.reaction))
    return holds


def crossed(limit: Limit, n: int, managed: int) -> bool:
    """Whether ``n`` people out of ``managed`` cross every bound ``limit`` sets."""
    if limit.percent is None and limit.count is None:
        return False
    over_pct = limit.percent is None or (managed > 0 and n / managed * 100 > limit.percent)
    over_count = limit.count is None or n > limit.count
    return over_pct and over_count


def stale_holds(history: History) -> list[Hold]:
    """The stale-file hold when this file's export time is older than an applied one's."""
    new, old = history.export_time, history.last_export_time
    if new is None or old is None or new >= old:
        return []
    return [Hold("stale-file", f"this file was exported {new.isoformat()}, before "
                 f"{history.last_file or 'a file'} ({old.isoformat()}) that is already applied; "
                 "applying it would undo newer changes")]


def _row_drop(rows_total: int, history: History, policy: GuardPolicy) -> list[Hold]:
    last = history.last_snapshot_rows
    limit = policy.max_row_drop_percent
    if limit is None or not last or rows_total == 0 or rows_total >= last:
        return []  # an empty file has its own hold
    drop = (last - rows_total) / last * 100
    if drop <= limit:
        return []
    return [Hold("row-count-drop", f"the file has {rows_total} rows, {drop:.1f}% fewer than the "
                 f"{last} of the last applied snapshot (more than {limit:g}%)")]
