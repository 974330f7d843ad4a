"""The local drop folder: the contract, plus watching and a full spool disk."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filebridge.transports import RemoteFile, open_transport
from filebridge.transports.base import Transport
from filebridge.transports.errors import SpoolWriteFailed
from filebridge.transports.local import LocalTransport

from .contract import Rig, TransportContract, ready_now


def _local_config(inbox: Path, outbox: Path, **over: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "type": "local",
        "inbox": str(inbox),
        "pattern": "*.csv",
        "outbox": str(outbox),
        "ready": {"stable_seconds": 0},
    }
    config.update(over)
    return config


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """Local folders under tmp_path."""
    inbox, outbox, spool = tmp_path / "inbox", tmp_path / "outbox", tmp_path / "spool"
    inbox.mkdir()
    made: list[Transport] = []

    def make(**over: Any) -> Transport:
        t = open_transport(_local_config(inbox, outbox, **over), base_dir=tmp_path, spool_dir=spool)
        made.append(t)
        return t

    yield Rig(inbox, outbox, spool, make)
    for t in made:
        t.close()


class TestLocalTransport(TransportContract):
    """The contract on a local folder."""


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_watch_calls_back_soon_after_a_file_is_finished(rig: Rig, mode: str) -> None:
    t = rig.make(ready={"stable_seconds": 0.3, "min_age_seconds": 0}, poll_seconds=0.2)
    assert isinstance(t, LocalTransport)
    seen: list[RemoteFile] = []
    arrived = threading.Event()

    def on_ready(f: RemoteFile) -> None:
        seen.append(f)
        arrived.set()

    watch = t.watch(on_ready, mode=mode)  # type: ignore[arg-type]
    try:
        time.sleep(0.1)
        start = time.monotonic()
        rig.drop("a.csv", age=0)
        assert arrived.wait(2.0), "no callback within 2 s"
        assert time.monotonic() - start < 2.0
        time.sleep(0.5)
        assert [f.name for f in seen] == ["a.csv"]  # once, not once per poll
    finally:
        watch.stop()


def test_spool_disk_full_loses_nothing(fs: Any) -> None:
    # pyfakefs: the spool is a 4 KiB mount, the file 64 KiB; everything here is pure Python.
    fs.create_dir("/drop/inbox")
    fs.add_mount_point("/spool", total_size=4096)
    data = b"1,a@example.com\n" * 4096
    fs.create_file("/drop/inbox/a.csv", contents=data)
    config = _local_config(Path("/drop/inbox"), Path("/drop/outbox"))
    t = open_transport(config, base_dir=Path("/drop"), spool_dir=Path("/spool"))
    c = t.claim(ready_now(t)[0])
    with pytest.raises(SpoolWriteFailed) as err:
        t.fetch(c, Path("/spool"))
    assert "/spool" in str(err.value)
    assert list(Path("/spool").iterdir()) == []  # no .part left behind
    assert Path("/drop/inbox/processing/a.csv").read_bytes() == data
    assert [x.name for x in t.pending_claims()] == ["a.csv"]


def test_non_utf8_name_is_refused_and_reported(rig: Rig) -> None:
    os.close(os.open(os.fsencode(rig.inbox) + b"/caf\xe9.csv", os.O_CREAT | os.O_WRONLY))
    rig.drop("a.csv")
    t = rig.make()
    assert [f.name for f in ready_now(t)] == ["a.csv"]
    assert [s.reason for s in t.skipped] == ["not-utf8"]


def test_deliver_does_not_need_to_list_the_outbox(rig: Rig, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Tidying up a killed delivery's part file is best effort: an outbox that cannot be
    listed (a write-only drop folder) still takes the file."""
    local = tmp_path / "c.csv"
    local.write_bytes(b"x\n")
    t = rig.make()

    def refuse(path: object = ".") -> list[str]:
        raise PermissionError(13, "Permission denied", str(path))

    with monkeypatch.context() as m:
        m.setattr(os, "listdir", refuse)
        t.deliver(local, "c.csv")
    assert (rig.outbox / "c.csv").read_bytes() == b"x\n"
