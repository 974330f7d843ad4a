"""Which LMS a connection feeds: the built-in store unless its settings name another."""

from __future__ import annotations

from typing import Any

from filebridge.lms.interface import Lms
from filebridge.lms.sqlstore import SqlStore


def open_target(connection: Any, builtin: SqlStore) -> Lms:
    """The LMS target of ``connection`` (a ``ConnectionConfig``), ready to plan and apply.

    The built-in store also keeps what every target shares: learning records for the
    export road, and the mirrors of external targets.
    """
    block = getattr(connection, "lms", None)
    if not block:
        return builtin
    # Imported here: the HTTP and SCIM libraries load only for a connection that uses them.
    from filebridge.lms.scim import ScimLms, target_from_config

    target = ScimLms({connection.name: target_from_config(block)}, builtin.engine)
    target.prepare()
    return target
