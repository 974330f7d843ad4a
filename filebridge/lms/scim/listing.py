"""Reading Users from a SCIM service provider: full listings page by page, and lookups by
the key attribute (``externalId`` by default): ``or`` filters of many ids at once when
the server filters, one ``eq`` filter per id when it refuses ``or``, else a listing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from scim2_client import SCIMClientException
from scim2_models import SCIMException

from filebridge.lms.scim.errors import ScimProtocolError
from filebridge.lms.scim.features import Features
from filebridge.lms.scim.resource import ResourceMapping
from filebridge.lms.scim.session import ScimSession

# ids per ``externalId eq … or …`` filter: keeps the query string short.
LOOKUP_CHUNK = 50
_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class FilterRefused(Exception):
    """The server answered a filtered listing with 400 (e.g. ``invalidFilter``)."""


def _page(session: ScimSession, params: dict[str, Any], resource: str = "User"
          ) -> dict[str, Any]:
    try:
        page = session.query(resource, query_parameters=params, check_request_payload=False,
                             check_response_payload=False)
    except (SCIMException, SCIMClientException) as exc:
        raise ScimProtocolError(session.connection, session.target.url,
                                f"listing {resource}s failed: {exc}") from exc
    if not isinstance(page, dict):
        raise ScimProtocolError(session.connection, session.target.url,
                                f"a listing of {resource}s is not a ListResponse")
    if _ERROR in (page.get("schemas") or []):
        # Never read an error as an empty page: a lookup would then create duplicates.
        detail = f"{page.get('status')} {page.get('scimType') or ''} {page.get('detail') or ''}"
        if "filter" in params and str(page.get("status")) == "400":
            raise FilterRefused(detail.strip())
        raise ScimProtocolError(session.connection, session.target.url,
                                f"listing {resource}s failed: {detail.strip()}")
    return page


def list_users(session: ScimSession, features: Features, page_size: int,
               filter: str | None = None, resource: str = "User"
               ) -> Iterator[dict[str, Any]]:
    """Every User (or resource of another type, such as ``Group``) matching ``filter``,
    page by page: cursors when the server only has those, else ``startIndex``/``count``."""
    size = min(page_size, features.max_page_size or page_size)
    base: dict[str, Any] = {"count": size}
    if filter:
        base["filter"] = filter
    if features.cursor:
        cursor = ""
        while True:
            page = _page(session, {**base, "cursor": cursor}, resource)
            yield from page.get("Resources") or []
            cursor = page.get("nextCursor") or ""
            if not cursor:
                return
    start = 1
    while True:
        page = _page(session, {**base, "startIndex": start}, resource)
        resources = page.get("Resources") or []
        yield from resources
        total = int(page.get("totalResults") or 0)
        start += len(resources)
        if not resources or start > total:
            return


def find_by_key(session: ScimSession, features: Features, mapping: ResourceMapping,
                ids: Iterable[str], page_size: int) -> dict[str, dict[str, Any]]:
    """The Users whose key attribute holds one of ``ids``, by employee id: one filtered
    listing per ``LOOKUP_CHUNK`` ids (within the server's filter ``maxResults``)."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, dict[str, Any]] = {}
    if not wanted:
        return found
    if not features.filter:
        want = set(wanted)
        for user in list_users(session, features, page_size):
            if (key := mapping.key_of(user)) in want:
                found[key] = user
        return found
    step = max(1, min(LOOKUP_CHUNK, features.filter_max_results))
    parts = [wanted[i:i + step] for i in range(0, len(wanted), step)]
    while parts:
        part = parts.pop(0)
        try:
            users = list(list_users(session, features, page_size, mapping.key_filter(part)))
        except FilterRefused as exc:
            if len(part) == 1:
                raise ScimProtocolError(session.connection, session.target.url,
                                        f"it refuses a lookup by {mapping.key_path}: {exc}"
                                        ) from exc
            # A server without ``or`` in its filters: one ``eq`` per id from here on.
            parts = [[e] for e in part] + [[e] for p in parts for e in p]
            continue
        for user in users:
            if (key := mapping.key_of(user)) in part:
                found[key] = user
    return found
