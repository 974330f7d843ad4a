"""Reading Users from a SCIM service provider: full listings page by page, and lookups by
``externalId`` (with a filter when the server has one, else from a listing)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from scim2_models import SCIMException

from filebridge.lms.scim.errors import ScimProtocolError
from filebridge.lms.scim.features import Features
from filebridge.lms.scim.session import ScimSession

# ids per ``externalId eq … or …`` filter: keeps the query string short.
LOOKUP_CHUNK = 50


def _page(session: ScimSession, params: dict[str, Any]) -> dict[str, Any]:
    try:
        page = session.query("User", query_parameters=params, check_request_payload=False,
                             check_response_payload=False)
    except SCIMException as exc:
        raise ScimProtocolError(session.connection, session.target.url,
                                f"listing Users failed: {exc}") from exc
    if not isinstance(page, dict):
        raise ScimProtocolError(session.connection, session.target.url,
                                "a listing of Users is not a ListResponse")
    return page


def list_users(session: ScimSession, features: Features, page_size: int,
               filter: str | None = None) -> Iterator[dict[str, Any]]:
    """Every User (matching ``filter``), page by page: cursors when the server only has
    those, else ``startIndex``/``count``."""
    size = min(page_size, features.max_page_size or page_size)
    base: dict[str, Any] = {"count": size}
    if filter:
        base["filter"] = filter
    if features.cursor:
        cursor = ""
        while True:
            page = _page(session, {**base, "cursor": cursor})
            yield from page.get("Resources") or []
            cursor = page.get("nextCursor") or ""
            if not cursor:
                return
    start = 1
    while True:
        page = _page(session, {**base, "startIndex": start})
        resources = page.get("Resources") or []
        yield from resources
        total = int(page.get("totalResults") or 0)
        start += len(resources)
        if not resources or start > total:
            return


def _quoted(value: str) -> str:
    # A SCIM filter's string literal is a JSON string.
    return json.dumps(value, ensure_ascii=False)


def find_by_external_id(session: ScimSession, features: Features, ids: Iterable[str],
                        page_size: int) -> dict[str, dict[str, Any]]:
    """The Users whose ``externalId`` is one of ``ids``, by ``externalId``."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, dict[str, Any]] = {}
    if not wanted:
        return found
    if not features.filter:
        want = set(wanted)
        for user in list_users(session, features, page_size):
            if user.get("externalId") in want:
                found[user["externalId"]] = user
        return found
    step = max(1, min(LOOKUP_CHUNK, features.filter_max_results))
    for i in range(0, len(wanted), step):
        part = wanted[i:i + step]
        expr = " or ".join(f"externalId eq {_quoted(e)}" for e in part)
        for user in list_users(session, features, page_size, filter=expr):
            if user.get("externalId") in part:
                found[user["externalId"]] = user
    return found
