"""Webhook notifications: an HTTP POST of the run's JSON summary (``notifications.webhook``).

The URL and header values may be secret references (``${env:NAME}``); they are
resolved when sending and never logged.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from filebridge.config import is_reference, resolve_secret


def start(config: dict[str, Any], summary: dict[str, Any]) -> None:
    """A task started (sent only when ``start`` is among the events)."""
    _post(config, summary)


def finish(config: dict[str, Any], summary: dict[str, Any]) -> None:
    """A task ended well (``success`` or ``idle``)."""
    _post(config, summary)


def fail(config: dict[str, Any], summary: dict[str, Any]) -> None:
    """A task ended badly (``rejected``, ``held``, ``failed``) or a file is missing."""
    _post(config, summary)


def _resolved(value: str) -> str:
    return resolve_secret(value) if is_reference(value) else value


def _post(config: dict[str, Any], summary: dict[str, Any]) -> None:
    data = json.dumps(summary, default=str, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "filebridge"}
    headers.update({k: _resolved(str(v)) for k, v in (config.get("headers") or {}).items()})
    url = _resolved(config["url"])
    if not url.lower().startswith(("http://", "https://")):
        # urllib also opens file: and ftp: URLs; a notification must only ever POST.
        raise ValueError("notifications.webhook.url must be an http:// or https:// URL")
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    # urlopen raises HTTPError for any status >= 400, so a refused summary is a failure.
    with urllib.request.urlopen(request, timeout=float(config.get("timeout_seconds", 10))):
        pass
