"""A connection's lifecycle policies (``policies:`` in settings.yaml) as one frozen value.

The JSON Schema has checked the vocabularies; the ``Literal`` types here are the same
lists (a test keeps them in step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from filebridge.columnar import is_in

Leavers = Literal["deactivate", "delete", "ignore"]
RehireMatch = Literal["employee_id", "employee_id_or_email"]
Cleanup = Literal["remove-empty", "keep"]


@dataclass(frozen=True)
class Policies:
    """What happens to leavers, rehires, filtered rows and unused org data."""

    leavers: Leavers = "deactivate"
    delete_grace_days: int = 0
    rehire_match: RehireMatch = "employee_id"
    email_domains: tuple[str, ...] = ()
    employee_types: tuple[str, ...] = ()
    cleanup: Cleanup = "remove-empty"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policies:
        """Read a connection's ``policies`` block; absent keys keep the defaults."""
        include = config.get("include") or {}
        return cls(
            leavers=config.get("leavers", "deactivate"),
            delete_grace_days=int(config.get("delete_grace_days", 0)),
            rehire_match=config.get("rehire_match", "employee_id"),
            email_domains=tuple(d.lower() for d in include.get("email_domains", ())),
            employee_types=tuple(include.get("employee_types", ())),
            cleanup=config.get("cleanup", "remove-empty"),
        )

    def excluded(self, records: pd.DataFrame) -> pd.Series:
        """Why each row is outside the include filter ("" for rows inside it), column-wise."""
        reason = pd.Series("", index=records.index, dtype="str")
        if self.employee_types and "employee_type" in records.columns:
            types = records["employee_type"].astype("str")
            out = ~is_in(types, self.employee_types)
            reason[out] = "employee type '" + types[out] + "' not included"
        if self.email_domains and "email" in records.columns:
            emails = records["email"].astype("str")
            domain = emails.str.rpartition("@")[2].str.lower()
            out = ~is_in(domain, self.email_domains) & (emails != "").to_numpy() & (
                reason == "").to_numpy()
            reason[out] = "email domain '" + domain[out] + "' not included"
        return reason


def filtered_rows(records: pd.DataFrame, policies: Policies) -> tuple[np.ndarray, pd.DataFrame]:
    """(mask of rows outside the filter, their ``employee_id, reason, message, line``)."""
    reason = policies.excluded(records)
    mask = (reason != "").to_numpy()
    out = records.loc[mask]
    return mask, pd.DataFrame({
        "employee_id": out["employee_id"].to_numpy(dtype=object),
        "reason": "filtered-out",
        "message": reason[mask].to_numpy(dtype=object),
        "line": out["line"].to_numpy(dtype=object),
    })
