"""The promises every transport keeps, inherited by each implementation's test class.

Subclasses provide a ``rig`` fixture: folders on this machine (the SFTP server
runs here too, so the same disk paths are its remote paths) and ``make(**over)``
building a transport from a config dict. Polls pass ``now`` explicitly, so
stability is tested without sleeping.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from filebridge.transports import RemoteFile, Transport, wait_ready
from filebridge.transports.errors import (
    FileTooLarge,
    HostileName,
    RemotePathError,
    TargetExists,
    TransportError,
)

NOW = datetime(2026, 11, 25, 3, 0, 0)

# Names a hostile or careless HR export could carry; each must be refused, not cleaned.
HOSTILE_ON_DISK = [
    "..\\etc\\passwd.csv",
    "..\\..\\x.csv",
    "a\\b.csv",
    "tab\there.csv",
    "new\nline.csv",
    "cr\rhere.csv",
    "bell\x07.csv",
    "esc\x1b[31mred.csv",
    "del\x7f.csv",
    "c1\x85.csv",
    "rtl\u202ecsv.exe.csv",
    "lri\u2066x.csv",
    "zero\u200bwidth.csv",
    "bom\ufeff.csv",
    "fullwidth\uff0e\uff0e\uff0fx.csv",
    "\uff0e\uff0e.csv",
    "division\u2215slash.csv",
    "fraction\u2044slash.csv",
    "one\u2024dot.csv",
    "CON.csv",
    "nul.csv",
    "com1.csv",
    "LPT9.csv",
    "-rf.csv",
    "~user.csv",
    " lead.csv",
    "nbsp\u00a0x.csv",
    "colon:stream.csv",
    "star*.csv",
    "ﬁle.csv",
]
HOSTILE_NOT_ON_DISK = [
    "../x.csv",
    "../../etc/passwd",
    "/etc/passwd",
    "a/b.csv",
    "nul\x00.csv",
    "",
    "..",
    "a" * 252 + "é.csv",
]


@dataclass
class Rig:
    """Folders of one test and a factory for transports over them."""

    inbox: Path
    outbox: Path
    spool: Path
    make: Callable[..., Transport]

    @property
    def processing(self) -> Path:
        """The processing folder (default layout)."""
        return self.inbox / "processing"

    def drop(
        self, name: str, data: bytes = b"id,email\n1,a@example.com\n", age: float = 60
    ) -> Path:
        """Write a finished file into the inbox, ``age`` seconds old."""
        path = self.inbox / name
        path.write_bytes(data)
        t = time.time() - age
        os.utime(path, (t, t))
        return path


def ready_now(t: Transport) -> list[RemoteFile]:
    """One poll now (rigs default to stable_seconds 0)."""
    return t.list_ready(time.time())


class TransportContract:
    """Inherit and provide a ``rig`` fixture."""

    rig: Any  # the fixture, per test

    # --- stable-file detection and listing ----------------------------------
    def test_stable_file_needs_two_polls_apart(self, rig: Rig) -> None:
        rig.drop("a.csv")
        t = rig.make(ready={"stable_seconds": 2})
        now = time.time()
        assert t.list_ready(now) == []
        assert t.list_ready(now + 1) == []
        assert [f.name for f in t.list_ready(now + 2.1)] == ["a.csv"]

    def test_growing_file_restarts_the_window(self, rig: Rig) -> None:
        path = rig.drop("a.csv")
        t = rig.make(ready={"stable_seconds": 2})
        now = time.time()
        t.list_ready(now)
        with open(path, "ab") as fh:
            fh.write(b"2,b@example.com\n")
        assert t.list_ready(now + 3) == []
        assert [f.name for f in t.list_ready(now + 5.1)] == ["a.csv"]

    def test_future_mtime_still_needs_consecutive_polls(self, rig: Rig) -> None:
        rig.drop("a.csv", age=-3600)  # server clock an hour ahead
        t = rig.make(ready={"stable_seconds": 2})
        now = time.time()
        assert t.list_ready(now) == []
        assert [f.name for f in t.list_ready(now + 2.1)] == ["a.csv"]

    def test_wait_ready_polls_a_fresh_transport(self, rig: Rig) -> None:
        rig.drop("a.csv", age=0)
        t = rig.make(ready={"stable_seconds": 0.3, "min_age_seconds": 0})
        assert [f.name for f in wait_ready(t, timeout=3, interval=0.1)] == ["a.csv"]

    def test_min_age_holds_a_fresh_file(self, rig: Rig) -> None:
        rig.drop("a.csv", age=0)
        t = rig.make(ready={"stable_seconds": 0, "min_age_seconds": 30})
        assert ready_now(t) == []
        assert [f.name for f in t.list_ready(time.time() + 31)] == ["a.csv"]

    def test_ignores_temporary_dot_and_other_files(self, rig: Rig) -> None:
        for name in ["a.csv.tmp", "a.csv.part", ".a.csv", "notes.yaml", "run.sh", "x.zip"]:
            rig.drop(name)
        t = rig.make()
        assert ready_now(t) == []
        assert t.skipped == []

    def test_two_files_oldest_first_by_mtime(self, rig: Rig) -> None:
        rig.drop("b.csv", age=100)
        rig.drop("a.csv", age=50)
        assert [f.name for f in ready_now(rig.make())] == ["b.csv", "a.csv"]

    def test_timestamp_in_name_orders_files(self, rig: Rig) -> None:
        rig.drop("hr_20261124.csv", age=10)
        rig.drop("hr_20261123.csv", age=5)
        stamp = {"regex": r"_(?P<ts>\d{8})\.csv$", "format": "%Y%m%d"}
        t = rig.make(name_timestamp=stamp)
        assert [f.name for f in ready_now(t)] == ["hr_20261123.csv", "hr_20261124.csv"]

    def test_done_marker_makes_a_file_ready_and_leaves_with_it(self, rig: Rig) -> None:
        rig.drop("a.csv", age=0)
        t = rig.make(ready={"mode": "done_marker", "done_marker": "{name}.ok"})
        assert ready_now(t) == []
        rig.drop("a.csv.ok", b"")
        [f] = ready_now(t)
        c = t.claim(f)
        assert not (rig.inbox / "a.csv.ok").exists()
        t.archive(c, NOW)
        assert not (rig.processing / "a.csv.ok").exists()
        assert [p.name for p in rig.inbox.iterdir() if p.is_file()] == []

    def test_manifest_lists_ready_files(self, rig: Rig) -> None:
        rig.drop("a.csv")
        rig.drop("b.csv", b"12345")
        t = rig.make(ready={"mode": "manifest", "manifest": "manifest.txt"})
        assert ready_now(t) == []
        rig.drop("manifest.txt", b"a.csv\nb.csv 999\n")
        assert [f.name for f in ready_now(t)] == ["a.csv"]

    # --- claim, fetch, archive, reject --------------------------------------
    def test_claim_fetch_archive(self, rig: Rig) -> None:
        data = b"id,email\n1,a@example.com\n2,b@example.com\n"
        rig.drop("a.csv", data)
        t = rig.make()
        [f] = ready_now(t)
        c = t.claim(f)
        assert not (rig.inbox / "a.csv").exists()
        assert (rig.processing / "a.csv").read_bytes() == data
        got = t.fetch(c, rig.spool)
        assert got.sha256 == hashlib.sha256(data).hexdigest()
        assert got.local_path == rig.spool / got.sha256
        assert got.local_path.read_bytes() == data and got.size == len(data)
        assert [p.name for p in rig.spool.iterdir()] == [got.sha256]
        where = t.archive(c, NOW)
        assert where.endswith("archive/2026/11/25/a.csv")
        assert (rig.inbox / "archive/2026/11/25/a.csv").read_bytes() == data
        assert list(rig.processing.iterdir()) == []

    def test_claimed_file_cannot_be_claimed_twice(self, rig: Rig) -> None:
        rig.drop("a.csv")
        t = rig.make()
        [f] = ready_now(t)
        t.claim(f)
        with pytest.raises(RemotePathError):
            rig.make().claim(f)

    def test_archive_never_overwrites_same_name(self, rig: Rig) -> None:
        t = rig.make()
        paths = []
        for day_content in (b"monday\n", b"tuesday\n", b"wednesday\n"):
            rig.drop("employees.csv", day_content)
            [f] = ready_now(t)
            paths.append(t.archive(t.claim(f), NOW))
        assert [Path(p).name for p in paths] == [
            "employees.csv",
            "employees.1.csv",
            "employees.2.csv",
        ]
        assert [Path(p).read_bytes() for p in paths] == [b"monday\n", b"tuesday\n", b"wednesday\n"]

    def test_reject_writes_error_beside_the_file(self, rig: Rig) -> None:
        rig.drop("a.csv")
        t = rig.make()
        c = t.claim(ready_now(t)[0])
        where = Path(t.reject(c, "missing column email", NOW))
        assert where == rig.inbox / "rejected" / "a.csv"
        note = where.with_name("a.csv.error.txt").read_text()
        assert "missing column email" in note and "a.csv" in note

    def test_pending_claims_after_a_crash(self, rig: Rig) -> None:
        rig.drop("a.csv", age=100)
        rig.drop("b.csv", age=50)
        first = rig.make()
        for f in ready_now(first):
            first.claim(f)
        first.close()  # the "crash": claimed, never fetched
        again = rig.make()
        pending = again.pending_claims()
        assert [c.name for c in pending] == ["a.csv", "b.csv"]
        assert again.fetch(pending[0], rig.spool).size == (rig.processing / "a.csv").stat().st_size

    def test_purge_archive_removes_old_days_only(self, rig: Rig) -> None:
        t = rig.make()
        for name, day in (("old.csv", datetime(2026, 1, 1)), ("new.csv", NOW)):
            rig.drop(name)
            t.archive(t.claim(ready_now(t)[0]), day)
        assert t.purge_archive(90, NOW) == 1
        assert not (rig.inbox / "archive/2026/01").exists()
        assert (rig.inbox / "archive/2026/11/25/new.csv").exists()

    def test_expire_names_old_archive_and_rejected_files_and_a_dry_run_keeps_them(
            self, rig: Rig) -> None:
        t = rig.make()
        rig.drop("old.csv")
        t.archive(t.claim(ready_now(t)[0]), datetime(2026, 1, 1))
        rig.drop("bad.csv")
        t.reject(t.claim(ready_now(t)[0]), "missing column email", NOW)
        archived = str(rig.inbox / "archive/2026/01/01/old.csv")
        assert t.expire("archive", 90, NOW, dry_run=True) == [archived]
        assert (rig.inbox / "archive/2026/01/01/old.csv").exists()
        assert t.expire("rejected", 5, NOW, dry_run=True) == []  # just rejected: kept
        later = datetime.now(UTC) + timedelta(days=6)
        gone = sorted(t.expire("rejected", 5, later))
        assert gone == [str(rig.inbox / "rejected" / n) for n in ("bad.csv",
                                                                  "bad.csv.error.txt")]
        assert t.expire("archive", 90, NOW) == [archived]
        assert not (rig.inbox / "archive/2026").exists()
        assert not list((rig.inbox / "rejected").iterdir())

    # --- delivery -----------------------------------------------------------
    def test_deliver_is_atomic_and_never_overwrites(self, rig: Rig, tmp_path: Path) -> None:
        local = tmp_path / "completions.csv"
        local.write_bytes(b"id,course\n1,safety\n")
        t = rig.make()
        final = t.deliver(local, "completions_20261125.csv")
        assert Path(final) == rig.outbox / "completions_20261125.csv"
        assert Path(final).read_bytes() == local.read_bytes()
        local.write_bytes(b"something else\n")
        with pytest.raises(TargetExists):
            t.deliver(local, "completions_20261125.csv")
        assert Path(final).read_bytes() == b"id,course\n1,safety\n"
        assert sorted(p.name for p in rig.outbox.iterdir()) == ["completions_20261125.csv"]

    def test_deliver_removes_what_a_killed_delivery_of_that_name_left(
            self, rig: Rig, tmp_path: Path) -> None:
        local = tmp_path / "c.csv"
        local.write_bytes(b"x\n")
        rig.outbox.mkdir(parents=True, exist_ok=True)
        left = [".c.csv.0123456789ab.part", ".c.csv.upload.part", ".d.csv.0123456789ab.part",
                "c.csv.0123456789ab.part"]
        for name in left:
            (rig.outbox / name).write_bytes(b"half")
        rig.make().deliver(local, "c.csv")
        # Only the exact hidden pattern of this name goes; look-alikes are someone else's.
        assert sorted(p.name for p in rig.outbox.iterdir()) == sorted(["c.csv", *left[1:]])

    def test_deliver_with_done_marker(self, rig: Rig, tmp_path: Path) -> None:
        local = tmp_path / "c.csv"
        local.write_bytes(b"x\n")
        rig.make().deliver(local, "c.csv", done_marker=True)
        assert sorted(p.name for p in rig.outbox.iterdir()) == ["c.csv", "c.csv.done"]

    @pytest.mark.parametrize("name", HOSTILE_NOT_ON_DISK + HOSTILE_ON_DISK[:3])
    def test_deliver_refuses_hostile_names(self, rig: Rig, tmp_path: Path, name: str) -> None:
        local = tmp_path / "c.csv"
        local.write_bytes(b"x\n")
        with pytest.raises(HostileName):
            rig.make().deliver(local, name)

    # --- hostile input ------------------------------------------------------
    def test_hostile_names_are_refused_and_reported(self, rig: Rig) -> None:
        for name in HOSTILE_ON_DISK:
            rig.drop(name)
        t = rig.make(pattern="*")
        assert ready_now(t) == []
        assert sorted(s.name for s in t.skipped) == sorted(HOSTILE_ON_DISK)
        assert all(s.reason for s in t.skipped)
        assert list(rig.spool.iterdir()) == []

    @pytest.mark.parametrize("name", HOSTILE_ON_DISK + HOSTILE_NOT_ON_DISK)
    def test_hostile_names_cannot_be_claimed(self, rig: Rig, name: str) -> None:
        with pytest.raises(HostileName):
            rig.make().claim(RemoteFile(name, 10, 0.0))

    def test_symlink_is_never_followed(self, rig: Rig) -> None:
        (rig.inbox / "hr.csv").symlink_to("/etc/passwd")
        t = rig.make()
        assert ready_now(t) == []
        assert [(s.name, s.reason) for s in t.skipped] == [("hr.csv", "not-a-regular-file (link)")]
        with pytest.raises(TransportError):
            t.claim(RemoteFile("hr.csv", 10, 0.0))
        assert (rig.inbox / "hr.csv").is_symlink()
        assert list(rig.spool.iterdir()) == []

    def test_symlink_in_processing_is_not_fetched(self, rig: Rig) -> None:
        rig.processing.mkdir()
        (rig.processing / "hr.csv").symlink_to("/etc/passwd")
        t = rig.make()
        assert t.pending_claims() == []
        from filebridge.transports import Claimed

        with pytest.raises(TransportError):
            t.fetch(Claimed("hr.csv", str(rig.processing / "hr.csv"), 10, 0.0), rig.spool)
        assert list(rig.spool.iterdir()) == []

    def test_fifo_and_directory_are_skipped(self, rig: Rig) -> None:
        os.mkfifo(rig.inbox / "pipe.csv")
        (rig.inbox / "dir.csv").mkdir()
        t = rig.make()
        assert ready_now(t) == []
        assert sorted(s.name for s in t.skipped) == ["dir.csv", "pipe.csv"]

    def test_unwritable_archive_names_the_path_and_keeps_the_file(self, rig: Rig) -> None:
        t = rig.make()
        rig.drop("a.csv")
        c = t.claim(ready_now(t)[0])
        if os.geteuid() == 0:
            # root ignores permission bits: block the archive with a file of that name.
            (rig.inbox / "archive").write_text("not a folder")
        else:
            (rig.inbox / "archive").mkdir(mode=0o500)
        with pytest.raises(RemotePathError) as err:
            t.archive(c, NOW)
        assert str(rig.inbox / "archive") in str(err.value)
        assert (rig.processing / "a.csv").exists()
        assert t.pending_claims()[0].name == "a.csv"

    def test_file_over_the_limit_is_refused_before_download(self, rig: Rig) -> None:
        rig.drop("big.csv", b"x" * 1000)
        t = rig.make(max_file_bytes=100)
        c = t.claim(ready_now(t)[0])
        with pytest.raises(FileTooLarge) as err:
            t.fetch(c, rig.spool)
        assert (err.value.size, err.value.limit) == (1000, 100)
        assert "1000" in str(err.value) and "100" in str(err.value)
        assert list(rig.spool.iterdir()) == []
        assert (rig.processing / "big.csv").exists()
