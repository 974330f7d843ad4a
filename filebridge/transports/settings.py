"""The transport block of a connection, parsed into frozen values.

The JSON Schema (``filebridge/schemas/transport.schema.json``) is the reference
for every key; this module only turns an already-validated mapping into typed
values and applies the defaults the schema documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from filebridge.transports.errors import TransportConfigError

ReadyMode = Literal["stable", "done_marker", "manifest"]
WatchMode = Literal["events", "poll"]
READY_MODES: tuple[ReadyMode, ...] = ("stable", "done_marker", "manifest")
WATCH_MODES: tuple[WatchMode, ...] = ("events", "poll")


@dataclass(frozen=True)
class ReadyRule:
    """How a finished upload is recognised (``ready:`` block)."""

    mode: ReadyMode = "stable"
    stable_seconds: float = 10.0
    min_age_seconds: float | None = None
    done_marker: str = "{name}.done"
    manifest: str | None = None

    def marker_for(self, name: str) -> str:
        """The done-marker name belonging to data file ``name``."""
        stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
        return self.done_marker.format(name=name, stem=stem)

    @property
    def min_age(self) -> float:
        """Minimum mtime age; defaults to the stability window."""
        return self.stable_seconds if self.min_age_seconds is None else self.min_age_seconds


@dataclass(frozen=True)
class NameTimestamp:
    """Where a file's own timestamp sits in its name, for oldest-first ordering."""

    regex: re.Pattern[str]
    format: str


@dataclass(frozen=True)
class Folders:
    """Folder layout as given (resolved by each transport: local paths or remote paths)."""

    inbox: str
    processing: str = "processing"
    archive: str = "archive"
    rejected: str = "rejected"
    outbox: str | None = None


@dataclass(frozen=True)
class CommonSettings:
    """Settings that mean the same on every transport."""

    folders: Folders
    pattern: str
    ready: ReadyRule = ReadyRule()
    max_file_bytes: int = 1 << 30
    name_timestamp: NameTimestamp | None = None
    archive_keep_days: int = 90
    poll_seconds: float = 5.0


@dataclass(frozen=True)
class SftpTimeouts:
    """Deadline in seconds for every network step (paramiko leaves several unbounded)."""

    connect: float = 15.0
    banner: float = 15.0
    auth: float = 30.0
    channel: float = 15.0
    read: float = 60.0
    stall: float = 120.0


def _require(config: Mapping[str, Any], key: str) -> Any:
    if key not in config or config[key] in (None, ""):
        raise TransportConfigError(key, "is required")
    return config[key]


def parse_ready(raw: Mapping[str, Any] | None) -> ReadyRule:
    """Parse the ``ready:`` block."""
    raw = raw or {}
    mode = raw.get("mode", "stable")
    if mode not in READY_MODES:
        raise TransportConfigError("ready.mode", f"{mode!r} is not one of {list(READY_MODES)}")
    if mode == "manifest" and not raw.get("manifest"):
        raise TransportConfigError("ready.manifest", "is required when ready.mode is manifest")
    marker = str(raw.get("done_marker", "{name}.done"))
    if "{name}" not in marker and "{stem}" not in marker:
        raise TransportConfigError("ready.done_marker", "must contain {name} or {stem}")
    min_age = raw.get("min_age_seconds")
    return ReadyRule(
        mode=mode,
        stable_seconds=float(raw.get("stable_seconds", 10.0)),
        min_age_seconds=None if min_age is None else float(min_age),
        done_marker=marker,
        manifest=raw.get("manifest"),
    )


def parse_common(config: Mapping[str, Any]) -> CommonSettings:
    """Parse the keys every transport shares."""
    stamp = config.get("name_timestamp")
    name_timestamp = None
    if stamp:
        try:
            regex = re.compile(stamp["regex"])
        except (re.error, KeyError) as exc:
            raise TransportConfigError("name_timestamp.regex", str(exc)) from None
        if "ts" not in regex.groupindex:
            raise TransportConfigError("name_timestamp.regex", "needs a named group (?P<ts>...)")
        name_timestamp = NameTimestamp(regex, str(_require(stamp, "format")))
    folders = Folders(
        inbox=str(_require(config, "inbox")),
        processing=str(config.get("processing", "processing")),
        archive=str(config.get("archive", "archive")),
        rejected=str(config.get("rejected", "rejected")),
        outbox=None if config.get("outbox") is None else str(config["outbox"]),
    )
    return CommonSettings(
        folders=folders,
        pattern=str(_require(config, "pattern")),
        ready=parse_ready(config.get("ready")),
        max_file_bytes=int(config.get("max_file_bytes", 1 << 30)),
        name_timestamp=name_timestamp,
        archive_keep_days=int(config.get("archive_keep_days", 90)),
        poll_seconds=float(config.get("poll_seconds", 5.0)),
    )


def parse_timeouts(raw: Mapping[str, Any] | None) -> SftpTimeouts:
    """Parse the ``timeouts:`` block of an SFTP transport."""
    raw = raw or {}
    unknown = set(raw) - set(SftpTimeouts.__dataclass_fields__)
    if unknown:
        raise TransportConfigError("timeouts", f"unknown keys {sorted(unknown)}")
    return SftpTimeouts(**{k: float(v) for k, v in raw.items()})
