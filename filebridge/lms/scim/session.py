"""One HTTP session with a SCIM service provider: deadlines, retries and what they promise.

scim2-client builds and checks the SCIM messages; this class is its network engine over
httpx2, and the one place that decides whether a request is sent again:

- a request the server says it did not take (429, 503) or that never left (connection
  refused) is retried, waiting ``Retry-After`` or a jittered backoff, up to a cap;
- a 5xx or a broken connection after sending is retried only for requests that cannot
  do anything different the second time (GET, PUT, PATCH of replace/remove, DELETE);
- a POST (create, bulk) whose fate is unknown is never resent here: ``Unanswered`` goes
  to the caller, which looks the people up by ``externalId`` before creating again;
- 401 and 403 stop at once: the token is refused for this connection.

Every request has a connect and a read timeout, and no request starts or waits past
the run's deadline.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx2
from scim2_client.client import BaseSyncSCIMClient

from filebridge.lms.scim.errors import ScimRefused, ScimUnavailable
from filebridge.lms.scim.target import ScimTarget

_SAFE = frozenset({"GET", "PUT", "PATCH", "DELETE", "HEAD"})
_NOT_TAKEN = frozenset({429, 503})
_MEDIA = "application/scim+json"


class Unanswered(Exception):
    """A POST whose outcome is unknown (5xx or a broken connection after sending)."""

    def __init__(self, method: str, url: str, reason: str) -> None:
        super().__init__(f"{method} {url}: {reason}")
        self.reason = reason


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ScimSession(BaseSyncSCIMClient):
    """scim2-client over httpx2 for one connection's target, with deadlines and retries."""

    def __init__(self, connection: str, target: ScimTarget, token: str, *,
                 transport: httpx2.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.connection = connection
        self.target = target
        verify: ssl.SSLContext | bool = True
        if target.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(target.ca_bundle))
        self.client = httpx2.Client(
            base_url=target.url + "/",
            headers={"Authorization": f"Bearer {token}", "Accept": _MEDIA},
            timeout=httpx2.Timeout(target.timeouts.read, connect=target.timeouts.connect),
            verify=verify, transport=transport, trust_env=False)
        self.requests = 0
        self.retries = 0
        self._deadline = time.monotonic() + target.timeouts.run
        self._sleep = sleep
        self._random = random.Random()

    # -- what scim2-client needs of an engine ------------------------------------------

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url = self.client.build_request("GET", endpoint).url
        base = self.client.base_url
        return url.origin == base.origin and url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        """Send one request, retrying as the module docstring says."""
        url = url.lstrip("/")
        attempt = 0
        while True:
            attempt += 1
            timeout = self._timeout()
            self.requests += 1
            try:
                response = self.client.request(method, url, timeout=timeout, **kwargs)
            except httpx2.ConnectError as exc:  # nothing was sent
                reason = f"cannot connect: {exc}"
            except httpx2.TimeoutException as exc:
                reason = f"no answer within {timeout.read:.0f} s" if not isinstance(
                    exc, httpx2.ConnectTimeout) else f"cannot connect: {exc}"
                if method not in _SAFE and not isinstance(exc, httpx2.ConnectTimeout):
                    raise Unanswered(method, url, reason) from exc
            except httpx2.RequestError as exc:
                reason = f"connection broken: {exc!r}"
                if method not in _SAFE:
                    raise Unanswered(method, url, reason) from exc
            else:
                status = response.status_code
                if status in (401, 403):
                    raise ScimRefused(self.connection, self.target.url, status)
                if status < 500 and status not in _NOT_TAKEN:
                    return response
                reason = f"HTTP {status}"
                if status not in _NOT_TAKEN and method not in _SAFE:
                    raise Unanswered(method, url, reason)
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None:
                    self._retry(attempt, reason, wait)
                    continue
            self._retry(attempt, reason, None)

    def _timeout(self) -> httpx2.Timeout:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise ScimUnavailable(self.connection, self.target.url,
                                  f"the run's deadline of {self.target.timeouts.run:.0f} s "
                                  "passed")
        t = self.target.timeouts
        return httpx2.Timeout(min(t.read, left), connect=min(t.connect, left))

    def _retry(self, attempt: int, reason: str, asked: float | None) -> None:
        retry = self.target.retry
        if attempt >= retry.attempts:
            raise ScimUnavailable(self.connection, self.target.url,
                                  f"{reason} after {attempt} attempts")
        # Full jitter: clients that failed together do not come back together.
        backoff = self._random.uniform(0, retry.backoff_seconds * 2 ** (attempt - 1))
        wait = min(asked if asked is not None else backoff, retry.max_wait_seconds)
        if time.monotonic() + wait >= self._deadline:
            raise ScimUnavailable(self.connection, self.target.url,
                                  f"{reason}; waiting {wait:.0f} s more would pass the "
                                  "run's deadline")
        self.retries += 1
        self._sleep(wait)

    # -- the run -----------------------------------------------------------------------

    def start_run(self) -> None:
        """Start the whole-run deadline (``timeouts.run``) from now."""
        self._deadline = time.monotonic() + self.target.timeouts.run

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()
