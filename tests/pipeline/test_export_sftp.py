"""Export delivery to a real OpenSSH server: temporary name then rename, and a crash after
the upload recognised on the next run by reading the delivered file back (size + sha256)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filebridge.ledger.exports import ExportLedger
from filebridge.pipeline.context import open_context
from filebridge.pipeline.exporter import export_connection
from tests.conftest import SshServer
from tests.pipeline.export_fixtures import NOW, export_workspace, load_people, record
from tests.pipeline.test_export import ROWS, FlakyTransport
from tests.transports.test_sftp import sftp_config

pytestmark = pytest.mark.sshd


def test_export_over_sftp_survives_a_lost_confirmation(sshd: SshServer, tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    remote = tmp_path / "hr-download"
    block = json.dumps(sftp_config(sshd, tmp_path / "inbox", remote))
    ctx = open_context(export_workspace(tmp_path / "ws", transport=block))
    try:
        load_people(ctx)
        record(ctx, ROWS[:2])
        lost = export_connection(ctx, "acme", now=NOW, transport=FlakyTransport(ctx, "after"))
        assert lost.state == "failed" and ExportLedger(ctx.ledger.engine).watermark("acme") == 0
        record(ctx, [ROWS[2]])
        again = export_connection(ctx, "acme", now=NOW)
        assert again.state == "delivered", again.error
        assert again.retried[0].run_id == lost.run_id
        names = sorted(p.name for p in remote.iterdir())
        assert names == ["completions_20261127_0001.csv", "completions_20261127_0002.csv"]
        assert (remote / names[0]).read_bytes() == Path(lost.files[0].local_path).read_bytes()
        assert ExportLedger(ctx.ledger.engine).watermark("acme") == 3
    finally:
        ctx.close()
