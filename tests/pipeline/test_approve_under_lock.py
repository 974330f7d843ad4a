"""Approve checks for newer data under the connection's lock, not before taking it.

A daemon applying a newer file while an approval waits for the lock must still make the
approval refuse: checked before the wait, the older held data would be applied over it.
"""

from __future__ import annotations

import threading
import time

import pytest

from filebridge.pipeline.context import open_context
from filebridge.pipeline.errors import StaleApproval
from filebridge.pipeline.importer import RunOptions, run_import_locked
from filebridge.pipeline.lifecycle import approve
from tests.pipeline.conftest import DELTA, NIGHT1
from tests.pipeline.files import apply, variant
from tests.pipeline.lifecycle_ws import workspace


def test_a_newer_file_applied_while_approve_waits_for_the_lock_is_refused(tmp_path):
    with workspace(tmp_path) as ctx:
        apply(ctx, NIGHT1)
        part = variant(NIGHT1, tmp_path / "acme_employees_sales.csv",
                       lambda rows: [r for r in rows if r["Department"] == "Sales"])
        held = apply(ctx, part)
        assert held.state == "held"
        other = open_context(tmp_path / "settings.yaml")  # the daemon, another process
        locked, approving, newer = threading.Event(), threading.Event(), []

        def daemon_applies_a_newer_file() -> None:
            with other.ledger.lock("acme"):
                locked.set()
                approving.wait(10)
                time.sleep(1.0)  # approve is waiting for the lock now
                newer.append(run_import_locked(other, "acme", DELTA, RunOptions("apply")))

        daemon = threading.Thread(target=daemon_applies_a_newer_file)
        daemon.start()
        try:
            assert locked.wait(10)
            approving.set()
            with pytest.raises(StaleApproval) as stale:
                approve(ctx, held.run_id, lock_wait=30)
        finally:
            daemon.join(30)
            other.close()
        assert newer[0].state == "applied"
        assert DELTA.name in stale.value.verdict
        assert ctx.ledger.get_run(held.run_id).state == "held"
        assert ctx.store.users("acme", active=False).empty  # the held leavers stay
