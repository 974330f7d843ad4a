"""Which LMS a connection feeds: the built-in store unless its settings name another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from filebridge.lms.interface import Lms
from filebridge.lms.sqlstore import SqlStore


def open_target(connection: Any, builtin: SqlStore,
                others: Mapping[str, Any] | None = None) -> Lms:
    """The LMS target of ``connection`` (a ``ConnectionConfig``), ready to plan and apply.

    The built-in store also keeps what every target shares: learning records for the
    export road, and the mirrors of external targets. ``others``: every connection by
    name; those feeding the same SCIM server share their people for manager and e-mail
    lookups, as connections of one built-in store do.
    """
    block = getattr(connection, "lms", None)
    if not block:
        return builtin
    # Imported here: the HTTP and SCIM libraries load only for a connection that uses them.
    from filebridge.lms.scim import ScimLms, target_from_config

    mine = target_from_config(block)
    targets = {connection.name: mine}
    for name, other in (others or {}).items():
        if name != connection.name and getattr(other, "lms", None):
            candidate = target_from_config(other.lms)
            if candidate.url == mine.url:
                targets[name] = candidate
    target = ScimLms(targets, builtin.engine)
    target.prepare()
    return target
