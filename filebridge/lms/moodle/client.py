"""Moodle's REST web services: one POST per call, a deadline on each, errors sorted.

Moodle answers HTTP 200 with ``{"exception", "errorcode", "message"}`` for every
refusal; ``call`` turns those into ``MoodleAccessDenied`` (token, service or
capability), ``MoodleUnavailable`` (maintenance, server errors, timeouts) or
``MoodleCallFailed`` (anything about the data sent, for the caller to pin on a person).

PHP reads at most ``max_input_vars`` variables of a request and silently drops the rest,
so every request stays under the site's limit. ``input_limit`` finds that limit from the
site itself (unless the connection sets ``max_input_vars``): a probe puts the one
required parameter of ``core_user_get_users_by_field`` (``field``) last, after N filler
values; the site answers normally while N fits, and "missing required key" once PHP
dropped it. A doubling search, then halving down to 5%, finds the limit in about ten
small requests, once per process.
"""

from __future__ import annotations

import json
import re
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


def reason_of(code: str) -> str:
    """Moodle's error or warning code as a stable kebab-case reason."""
    if code == "invalidparameter":
        return "invalid-value"
    return re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-") or "refused"


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


# The probe looks between these: Moodle's installer demands 5000, so a site below 1000
# is refused; larger requests than 20000 variables gain nothing worth a big body.
PROBE_FLOOR, PROBE_CAP = 1000, 20000
# Variables a request carries besides its parameters: token, function, format.
OVERHEAD = 3


class MoodleClient:
    """Calls of one Moodle site with one token (resolved by the caller)."""

    def __init__(self, target: MoodleTarget, token: str) -> None:
        self.target = target
        self._token = token
        self.calls = 0
        self._limit: int | None = target.max_input_vars

    def call(self, function: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded answer of ``function``; see the module docstring for errors."""
        return self._post(function, encode(params or {}))

    def _post(self, function: str, pairs: Sequence[tuple[str, str]]) -> Any:
        fields = [("wstoken", self._token), ("wsfunction", function),
                  ("moodlewsrestformat", "json"), *pairs]
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

    def input_limit(self) -> int:
        """How many variables one request may carry on this site (see the module
        docstring): the connection's ``max_input_vars``, else found from the site."""
        if self._limit is None:
            self._limit = self._probe()
        return self._limit

    def _fits(self, n: int) -> bool:
        pairs = [(f"values[{i}]", "0") for i in range(n - OVERHEAD - 1)] + [("field", "id")]
        try:
            self._post("core_user_get_users_by_field", pairs)
        except MoodleCallFailed as exc:
            # Filler ids and ``field=id`` are valid whenever they arrive (the floor's
            # probe shows it first): refusing them means PHP dropped ``field``. A site
            # in debug mode says so ("Missing required key ... field"), others do not.
            if exc.errorcode == "invalidparameter":
                return False
            raise
        except MoodleUnavailable as exc:
            if "Input variables exceeded" in exc.reason:  # PHP's warning in the body
                return False
            raise
        except MoodleRejected as exc:
            if exc.errorcode == "http-413":  # a proxy in front refused the body's size
                return False
            raise
        return True

    def _probe(self) -> int:
        if not self._fits(PROBE_FLOOR):
            raise MoodleRejected(self.target.url, "core_user_get_users_by_field",
                                 "max-input-vars", f"the site reads fewer than {PROBE_FLOOR} "
                                 "request variables (PHP max_input_vars); Moodle needs 5000")
        if self._fits(PROBE_CAP):
            return PROBE_CAP
        low, high = PROBE_FLOOR, PROBE_CAP
        while high - low > low // 20:
            middle = (low + high) // 2
            low, high = (middle, high) if self._fits(middle) else (low, middle)
        return low

    def budget(self) -> int:
        """Variables one request may use for its parameters, with a tenth to spare."""
        return max(1, int(self.input_limit() * 0.9) - OVERHEAD)

    def users_by_field(self, field: str, values: Sequence[str]) -> list[dict[str, Any]]:
        """The accounts whose ``field`` is one of ``values`` (deleted ones excluded)."""
        found: list[dict[str, Any]] = []
        size = max(1, min(1000, self.budget() - 1))
        for i in range(0, len(values), size):
            part = list(values[i:i + size])
            answer = self.call("core_user_get_users_by_field",
                               {"field": field, "values": part})
            found.extend(u for u in answer or [] if isinstance(u, dict) and not deleted(u))
        return found


# What Moodle leaves of a deleted account: the row stays (looked up by id it is still
# answered, with no flag saying so), its e-mail becomes the md5 of its username and its
# username the old e-mail plus the time of deletion.
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_DELETED_NAME = re.compile(r"\.[0-9]{9,}$")


def deleted(user: Mapping[str, Any]) -> bool:
    """Whether a ``core_user_get_users_by_field`` answer is an account Moodle deleted."""
    return bool(_MD5.match(str(user.get("email", "") or ""))
                and _DELETED_NAME.search(str(user.get("username", "") or "")))
