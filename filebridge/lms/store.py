"""The LMS behind one small interface: what the pipeline needs from any LMS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import pandas as pd
from sqlalchemy.engine import Connection

from filebridge.plan.model import Plan


@runtime_checkable
class Store(Protocol):
    """An LMS that filebridge reconciles; the built-in one is ``SqlStore``."""

    def snapshot(self, connection: str) -> pd.DataFrame:
        """``employee_id`` (str), ``fingerprint`` (int64), ``active`` (bool) of everyone
        ``connection`` manages."""
        ...

    def fetch(
        self, connection: str, employee_ids: Sequence[str], fields: Sequence[str]
    ) -> pd.DataFrame:
        """The current ``fields`` of those people, indexed by ``employee_id`` ("" = blank)."""
        ...

    def existing_employee_ids(self, employee_ids: Iterable[str]) -> set[str]:
        """Which of ``employee_ids`` exist in the LMS, under any connection or none."""
        ...

    def apply(
        self, tx: Connection, plan: Plan, run_id: int | None, now: datetime
    ) -> dict[str, int]:
        """Write ``plan`` inside the caller's transaction ``tx``; never commits. Returns counts."""
        ...

    def users(
        self, connection: str | None, *, active: bool | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """People for display, optionally only one connection's and only (in)active ones."""
        ...

    def completions(self, since: datetime | None) -> pd.DataFrame:
        """Course results recorded after ``since`` (all when None), for the export run."""
        ...
