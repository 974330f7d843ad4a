"""Moodle's REST web services: one POST per call, a deadline on each, errors sorted.

Moodle answers HTTP 200 with ``{"exception", "errorcode", "message"}`` for every
refusal; ``call`` turns those into ``MoodleAccessDenied`` (token, service or
capability), ``MoodleUnavailable`` (maintenance, server errors, timeouts) or
``MoodleCallFailed`` (anything about the data sent, for the caller to pin on a person).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from filebridge.lms.moodle.errors import MoodleAccessDenied, MoodleRejected, MoodleUnavailable
from filebridge.lms.moodle.target import MoodleTarget

# Refusals that no change of the data sent can fix: the token, the service, the user.
ACCESS_ERRORS = frozenset({
    "invalidtoken", "accessexception", "servicenotavailable", "nopermissions",
    "webservicesnotenabled", "enablewsdescription", "usernotfullysetup",
    "forcepasswordchangenotice", "restoredaccountresetpassword", "sitepolicynotagreed",
    "requireloginerror"})
# Refusals that say Moodle is not serving right now.
UNAVAILABLE_ERRORS = frozenset({"sitemaintenance", "dbconnectionfailed", "upgraderunning"})


class MoodleCallFailed(Exception):
    """Moodle refused a call because of the data sent (``invalidparameter`` and kin)."""

    def __init__(self, function: str, errorcode: str, message: str, debuginfo: str) -> None:
        super().__init__(f"{errorcode}: {message}")
        self.function = function
        self.errorcode = errorcode
        self.message = message
        self.debuginfo = debuginfo

    @property
    def detail(self) -> str:
        """Moodle's words, with its debugging detail when the site gives it."""
        return f"{self.message} ({self.debuginfo})" if self.debuginfo else self.message


def encode(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Nested dicts and lists flattened into Moodle's ``a[0][b]=v`` form fields."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else str(k), v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif isinstance(value, bool):
            out.append((prefix, "1" if value else "0"))
        elif value is not None:
            out.append((prefix, str(value)))

    walk("", params)
    return out


class MoodleClient:
    """Calls of one Moodle site with one token (resolved by the caller)."""

    def __init__(self, target: MoodleTarget, token: str) -> None:
        self.target = target
        self._token = token
        self.calls = 0

    def call(self, function: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded answer of ``function``; see the module docstring for errors."""
        fields = [("wstoken", self._token), ("wsfunction", function),
                  ("moodlewsrestformat", "json"), *encode(params or {})]
        body = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(
            self.target.endpoint, data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"})
        timeouts = self.target.timeouts
        self.calls += 1
        try:
            # One deadline for connecting and for every read of the answer.
            with urllib.request.urlopen(  # noqa: S310 - the URL is the configured site
                    request, timeout=max(timeouts.connect, timeouts.read)) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in (408, 429):
                raise MoodleUnavailable(self.target.url, function,
                                        f"HTTP {exc.code} {exc.reason}") from None
            raise MoodleRejected(self.target.url, function, f"http-{exc.code}",
                                 f"{exc.reason}; check the connection's lms.url") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MoodleUnavailable(self.target.url, function, str(reason)) from None
        return self._decode(function, raw)

    def _decode(self, function: str, raw: bytes) -> Any:
        try:
            answer = json.loads(raw) if raw.strip() else None
        except ValueError:
            snippet = raw[:200].decode("utf-8", "replace").strip()
            raise MoodleUnavailable(self.target.url, function,
                                    f"the answer is not JSON: {snippet!r}") from None
        if isinstance(answer, dict) and "exception" in answer:
            code = str(answer.get("errorcode", ""))
            message = str(answer.get("message", ""))
            if code in UNAVAILABLE_ERRORS:
                raise MoodleUnavailable(self.target.url, function, f"{code}: {message}")
            if code in ACCESS_ERRORS or "required_capability" in str(answer["exception"]):
                raise MoodleAccessDenied(self.target.url, function, code, message)
            raise MoodleCallFailed(function, code, message, str(answer.get("debuginfo", "")))
        return answer

    def site_info(self) -> dict[str, Any]:
        """``core_webservice_get_site_info``: release, user, and the functions allowed."""
        info = self.call("core_webservice_get_site_info")
        return info if isinstance(info, dict) else {}

    def users_by_field(self, field: str, values: Sequence[str]) -> list[dict[str, Any]]:
        """The accounts whose ``field`` is one of ``values`` (deleted ones excluded)."""
        found: list[dict[str, Any]] = []
        size = max(1, min(1000, self.target.max_input_vars // 2))
        for i in range(0, len(values), size):
            part = list(values[i:i + size])
            answer = self.call("core_user_get_users_by_field",
                               {"field": field, "values": part})
            found.extend(u for u in answer or [] if isinstance(u, dict))
        return found
