"""Every local watch of a process is served by one thread: a hundred inboxes, events or
polls, each file reported once and soon; an inbox that appears late or is replaced is
still watched; stopping the last watch ends the thread."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filebridge.transports import RemoteFile, open_transport
from filebridge.transports.local import LocalTransport
from filebridge.transports.watch_hub import THREAD_NAME, WatchHub


def _transport(tmp_path: Path, name: str, **over: Any) -> LocalTransport:
    config: dict[str, Any] = {"type": "local", "inbox": str(tmp_path / "in" / name),
                              "pattern": "*.csv", "ready": {"stable_seconds": 0}, **over}
    t = open_transport(config, base_dir=tmp_path, spool_dir=tmp_path / "spool" / name)
    assert isinstance(t, LocalTransport)
    return t


def _drop(folder: Path, name: str) -> None:
    part = folder / f".{name}.tmp"
    part.write_text("id\n1\n", encoding="utf-8")
    os.replace(part, folder / name)


class Seen:
    """Callbacks received, per inbox, and an event per inbox for the first one."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self.arrived: dict[str, threading.Event] = {}

    def callback(self, inbox: str):  # noqa: ANN201 - a closure per inbox
        self.arrived[inbox] = threading.Event()

        def on_ready(f: RemoteFile) -> None:
            with self.lock:
                self.names.setdefault(inbox, []).append(f.name)
            self.arrived[inbox].set()

        return on_ready


def _hub_threads() -> int:
    return sum(t.name == THREAD_NAME for t in threading.enumerate())


@pytest.fixture
def hub() -> Iterator[WatchHub]:
    made = WatchHub()
    yield made
    deadline = time.monotonic() + 5
    while made.threads() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_a_hundred_inboxes_share_one_thread(tmp_path: Path, hub: WatchHub, mode: str) -> None:
    before = threading.active_count()
    seen = Seen()
    transports = []
    # Polls every 60 s in events mode: only an event can make the callback quick there.
    poll = 60.0 if mode == "events" else 0.3
    for n in range(100):
        t = _transport(tmp_path, f"c{n:03d}", poll_seconds=poll)
        t.inbox.mkdir(parents=True)
        transports.append(t)
    watches = [hub_watch(t, seen.callback(t.inbox.name), mode, hub) for t in transports]
    try:
        time.sleep(0.3)  # every first poll has run
        assert threading.active_count() - before <= 1
        start = time.monotonic()
        for t in transports[::10]:
            _drop(t.inbox, "a.csv")
        for t in transports[::10]:
            assert seen.arrived[t.inbox.name].wait(3.0), t.inbox
        assert time.monotonic() - start < 3.0
        time.sleep(0.5)
        assert seen.names == {t.inbox.name: ["a.csv"] for t in transports[::10]}
        assert threading.active_count() - before <= 1 and hub.threads() == 1
    finally:
        for w in watches:
            w.stop()
    deadline = time.monotonic() + 5
    while hub.threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.threads() == 0


def hub_watch(t: LocalTransport, callback: Any, mode: str, hub: WatchHub) -> Any:
    """A watch of ``t`` served by ``hub`` (not the process-wide one)."""
    from filebridge.transports.local_watch import Watch

    w = Watch(t, callback, mode, t.settings.poll_seconds, hub=hub)  # type: ignore[arg-type]
    w.start()
    return w


def test_an_inbox_made_after_the_watch_started_gets_events(tmp_path: Path,
                                                           hub: WatchHub) -> None:
    t = _transport(tmp_path, "late", poll_seconds=0.5)
    seen = Seen()
    w = hub_watch(t, seen.callback("late"), "events", hub)
    try:
        time.sleep(0.3)
        t.inbox.mkdir(parents=True)
        time.sleep(1.2)  # a poll (every 0.5 s) finds the folder and subscribes to its events
        w.poll_seconds = 60.0
        time.sleep(0.6)  # the poll due now runs and puts the next one a minute away
        _drop(t.inbox, "late.csv")
        assert seen.arrived["late"].wait(3.0)
        # Replaced (deleted and made again): watched again after the next poll.
        w.poll_seconds = 0.5
        (t.inbox / "late.csv").unlink()
        t.inbox.rmdir()
        t.inbox.mkdir()
        time.sleep(1.2)
        w.poll_seconds = 60.0
        time.sleep(0.6)
        seen.arrived["late"].clear()
        _drop(t.inbox, "again.csv")
        assert seen.arrived["late"].wait(3.0)
        assert seen.names["late"] == ["late.csv", "again.csv"]
    finally:
        w.stop()


def test_a_stopped_watch_is_never_called_back(tmp_path: Path, hub: WatchHub) -> None:
    t = _transport(tmp_path, "gone", poll_seconds=0.1)
    t.inbox.mkdir(parents=True)
    seen = Seen()
    w = hub_watch(t, seen.callback("gone"), "events", hub)
    time.sleep(0.2)
    w.stop()
    _drop(t.inbox, "late.csv")
    time.sleep(0.5)
    assert "gone" not in seen.names
