"""Drift between an external LMS and filebridge's mirror of it: ``verify`` and
``plan --verify``. Only external targets (SCIM, Moodle) offer it; the built-in store
is its own truth and has no mirror to drift from."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any

from filebridge.pipeline.context import Context
from filebridge.pipeline.errors import UnsupportedByTarget


def _listable(ctx: Context, connection: str, command: str) -> Any:
    target = ctx.target(connection)
    if not hasattr(target, "verify"):
        raise UnsupportedByTarget(connection=connection, command=command,
                                  target=target.location)
    return target


def verify(ctx: Context, connection: str, repair: bool, now: datetime, *,
           lock: bool = True) -> dict[str, Any]:
    """List the connection's LMS and compare it with the mirror; with ``repair``, make the
    mirror hold what the LMS holds so the next plan corrects the LMS. Takes the
    connection's lock (no import may run meanwhile) unless the caller holds it."""
    target = _listable(ctx, connection, "verify --repair" if repair else "verify")
    with ctx.ledger.lock(connection, wait_seconds=0) if lock else nullcontext():
        drift = target.verify(connection)
        if repair and not drift.clean:
            target.repair(drift, now)
    return {**drift.to_dict(), "repaired": repair and not drift.clean,
            "location": target.location}


def plan_against_lms(ctx: Context, connection: str) -> None:
    """Make the next plan of ``connection`` read the LMS as listed now, not the mirror."""
    target = _listable(ctx, connection, "plan --verify")
    target.plan_live(target.verify(connection))
