"""The ``Transport`` interface and the pickup rules every implementation shares.

Both the local folder and SFTP list their inbox as ``Entry`` values and hand them
to one ``Selector``, so "which file is finished, which is refused, in which order"
is decided by the same code for every transport.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from filebridge.transports.names import is_ignored, matches, name_problem
from filebridge.transports.settings import CommonSettings, ReadyRule

log = logging.getLogger(__name__)

EntryKind = Literal["file", "link", "dir", "other"]
# The folders of a transport that keep input files for a while (see ``expire``).
KeptFolder = Literal["archive", "rejected"]


@dataclass(frozen=True)
class RemoteFile:
    """A finished file in the inbox, ready to be claimed."""

    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Claimed:
    """A file renamed into processing/; ``claimed_path`` is where it now lives."""

    name: str
    claimed_path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Fetched:
    """A verified local copy of a claimed file in the spool, named by its sha256."""

    name: str
    local_path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Skipped:
    """A name the listing refused: hostile, or not a regular file. Reported, never read."""

    name: str
    reason: str


@dataclass(frozen=True)
class Entry:
    """One directory entry as a transport sees it, without following links."""

    name: str
    kind: EntryKind
    size: int
    mtime: float


class Transport(Protocol):
    """Where files come from and go to. Knows names, sizes and folders, never contents."""

    skipped: list[Skipped]

    def list_ready(self, now: float) -> list[RemoteFile]:
        """Finished files matching the pattern, oldest first; refused names go to ``skipped``."""
        ...

    def claim(self, f: RemoteFile) -> Claimed:
        """Atomically rename ``f`` into processing/."""
        ...

    def pending_claims(self) -> list[Claimed]:
        """Files left in processing/ by an earlier run, oldest first."""
        ...

    def fetch(self, c: Claimed, spool_dir: Path) -> Fetched:
        """Download ``c`` into ``spool_dir``, verified and fsynced, named by its sha256."""
        ...

    def archive(self, c: Claimed, now: datetime) -> str:
        """Move ``c`` to archive/YYYY/MM/DD/, never overwriting; return the new path."""
        ...

    def reject(self, c: Claimed, reason: str, now: datetime) -> str:
        """Move ``c`` to rejected/ with NAME.error.txt beside it; return the new path."""
        ...

    def deliver(self, local: Path, name: str, *, done_marker: bool = False) -> str:
        """Upload ``local`` to the outbox as ``name`` via a temporary name; never overwrite."""
        ...

    def outbox_checksum(self, name: str) -> tuple[int, str] | None:
        """Size and sha256 of ``name`` in the outbox, or None when it is not there."""
        ...

    def purge_archive(self, older_than_days: int, now: datetime) -> int:
        """Delete archived files from days older than ``older_than_days``; return the count."""
        ...

    def expire(self, folder: KeptFolder, older_than_days: int, now: datetime, *,
               dry_run: bool = False) -> list[str]:
        """The files of archive/ (by day folder) or rejected/ (by modification time) older
        than ``older_than_days``, deleted unless ``dry_run``; links are never followed."""
        ...

    def close(self) -> None:
        """Release connections; the transport reconnects if used again."""
        ...


@dataclass
class _Seen:
    size: int
    mtime: float
    first_seen: float


@dataclass
class StabilityTracker:
    """Poll memory: a file is stable when size and mtime stayed identical long enough.

    Uses the caller's ``now`` for the window, so a server clock that is skewed
    (mtime in the future) cannot make a growing file look finished: consecutive
    identical observations are always needed when ``stable_seconds`` > 0.
    """

    rule: ReadyRule
    _seen: dict[str, _Seen] = field(default_factory=dict)
    waiting: int = 0

    def observe(self, name: str, size: int, mtime: float, now: float) -> bool:
        """Record one observation; True when the file counts as finished."""
        prev = self._seen.get(name)
        if prev is None or (prev.size, prev.mtime) != (size, mtime) or now < prev.first_seen:
            prev = self._seen[name] = _Seen(size, mtime, now)
            if self.rule.stable_seconds > 0:
                return False
        old_enough = mtime > now or now - mtime >= self.rule.min_age
        return now - prev.first_seen >= self.rule.stable_seconds and old_enough

    def forget_except(self, names: set[str]) -> None:
        """Drop memory of files no longer listed (claimed or deleted)."""
        for gone in set(self._seen) - names:
            del self._seen[gone]


class Selector:
    """Turns an inbox listing into finished files (oldest first) and refused names."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.tracker = StabilityTracker(settings.ready)
        self._reported: set[tuple[str, str]] = set()

    def select(
        self, entries: list[Entry], now: float, manifest: Callable[[], str | None]
    ) -> tuple[list[RemoteFile], list[Skipped]]:
        """Apply ignore rules, name safety, pattern, file type and readiness to a listing."""
        rule = self.settings.ready
        names = {e.name for e in entries}
        markers = {rule.marker_for(n) for n in names} if rule.mode == "done_marker" else set()
        listed = _parse_manifest(manifest()) if rule.mode == "manifest" else {}
        ready: list[RemoteFile] = []
        skipped: list[Skipped] = []
        waiting = 0
        for e in entries:
            # Hostile names are reported even when they look like dot-files ("..\\x").
            reason = name_problem(e.name)
            if reason is None and (
                is_ignored(e.name)
                or e.name in markers
                or e.name == rule.manifest
                or not matches(e.name, self.settings.pattern)
            ):
                continue
            if reason is None and e.kind != "file":
                reason = f"not-a-regular-file ({e.kind})"
            if reason is not None:
                skipped.append(Skipped(e.name, reason))
                continue
            if self._is_ready(e, now, names, listed):
                ready.append(RemoteFile(e.name, e.size, e.mtime))
            else:
                waiting += 1
        self.tracker.forget_except(names)
        self.tracker.waiting = waiting
        self._report(skipped)
        return self.order(ready), skipped

    def _is_ready(
        self, e: Entry, now: float, names: set[str], listed: dict[str, int | None]
    ) -> bool:
        rule = self.settings.ready
        if rule.mode == "done_marker":
            return rule.marker_for(e.name) in names
        if rule.mode == "manifest":
            return e.name in listed and listed[e.name] in (None, e.size)
        return self.tracker.observe(e.name, e.size, e.mtime, now)

    def order(self, files: Iterable[RemoteFile]) -> list[RemoteFile]:
        """Oldest first: the timestamp in the name when configured, else mtime; then name."""
        stamp = self.settings.name_timestamp

        def key(f: RemoteFile) -> tuple[float, str]:
            if stamp is not None:
                m = stamp.regex.search(f.name)
                if m:
                    try:
                        return datetime.strptime(m.group("ts"), stamp.format).timestamp(), f.name
                    except ValueError:
                        pass
            return f.mtime, f.name

        return sorted(files, key=key)

    def _report(self, skipped: list[Skipped]) -> None:
        # Log each refusal once per process, not once per poll, so the log stays readable.
        for s in skipped:
            if (s.name, s.reason) not in self._reported:
                self._reported.add((s.name, s.reason))
                log.warning("skipped %s in the inbox: %s", ascii(s.name), s.reason)


def _parse_manifest(text: str | None) -> dict[str, int | None]:
    listed: dict[str, int | None] = {}
    for line in (text or "").splitlines():
        parts = line.strip().split()
        if len(parts) == 1:
            listed[parts[0]] = None
        elif len(parts) == 2 and parts[1].isdigit():
            listed[parts[0]] = int(parts[1])
    return listed


def collision_names(name: str) -> Iterator[str]:
    """``name``, then ``stem.1.ext``, ``stem.2.ext``, ...: candidates that never overwrite."""
    yield name
    stem, dot, ext = name.rpartition(".") if "." in name[1:] else (name, "", "")
    n = 1
    while True:
        yield f"{stem}.{n}{dot}{ext}"
        n += 1


def day_folder(now: datetime) -> tuple[str, str, str]:
    """The archive sub-folders for ``now``: (YYYY, MM, DD)."""
    return f"{now.year:04d}", f"{now.month:02d}", f"{now.day:02d}"


def error_text(name: str, reason: str, now: datetime) -> str:
    """Content of NAME.error.txt beside a rejected file."""
    return f"file: {ascii(name)}\nrejected: {now.isoformat()}\nreason: {reason}\n"


def wait_ready(
    transport: Transport,
    timeout: float,
    interval: float = 0.1,
    clock: Callable[[], float] = time.time,
) -> list[RemoteFile]:
    """Poll ``list_ready`` until something is finished or ``timeout`` passes.

    A fresh transport with ``stable_seconds`` > 0 needs at least two polls before
    a file counts as finished; this is the one-shot CLI's way to get them.
    """
    deadline = time.monotonic() + timeout
    while True:
        ready = transport.list_ready(clock())
        if ready or time.monotonic() >= deadline:
            return ready
        time.sleep(interval)
