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
    block = getattr(connection, "lms", None) or {}
    kind = block.get("type", "builtin")
    if kind == "moodle":
        # Imported here: a connection on the built-in store never loads the Moodle client.
        from filebridge.lms.moodle import MoodleLms, target_from_config
        target = MoodleLms({connection.name: target_from_config(block)}, builtin.engine)
        target.prepare()
        return target
    return builtin
