"""Which LMS a connection feeds: the built-in store unless its settings name another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from filebridge.lms.interface import Lms
from filebridge.lms.sqlstore import SqlStore


def open_target(connection: Any, builtin: SqlStore,
                others: Mapping[str, Any] | None = None) -> Lms:
    """The LMS target of ``connection`` (a ``ConnectionConfig``), ready to plan and apply.

    ``connection.lms`` chooses by its ``type``: ``scim``, ``moodle``, or ``built-in``
    (the same as no block). The built-in store also keeps what every target shares:
    learning records for the export road, and the mirrors of external targets.
    ``others``: every connection by name; those feeding the same server (same type and
    URL) share their people for manager and e-mail lookups, as connections of one
    built-in store do.
    """
    block: dict[str, Any] = getattr(connection, "lms", None) or {}
    kind = block.get("type", "built-in")
    if kind == "built-in":
        return builtin
    siblings = {name: other.lms for name, other in (others or {}).items()
                if name != connection.name and getattr(other, "lms", None)
                and other.lms.get("type") == kind}
    target: Lms
    # Imported here: the HTTP, SCIM and Moodle code loads only for a connection using it.
    if kind == "moodle":
        from filebridge.lms.moodle import MoodleLms
        from filebridge.lms.moodle import target_from_config as moodle_target

        mine_m = moodle_target(block)
        targets_m = {connection.name: mine_m}
        for name, other_block in siblings.items():
            candidate_m = moodle_target(other_block)
            if candidate_m.url == mine_m.url:
                targets_m[name] = candidate_m
        target = MoodleLms(targets_m, builtin.engine)
    else:
        from filebridge.lms.scim import ScimLms, target_from_config

        mine = target_from_config(block)
        targets = {connection.name: mine}
        for name, other_block in siblings.items():
            candidate = target_from_config(other_block)
            if candidate.url == mine.url:
                targets[name] = candidate
        target = ScimLms(targets, builtin.engine)
    target.prepare()
    return target
