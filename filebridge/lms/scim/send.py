"""Sending changes to a SCIM service provider and reading each one's outcome.

Changes go in chunks: the journal records a chunk as ``sent`` before it leaves, then its
outcomes (and the mirror rows of the confirmed ones) in one transaction. A chunk is one
Bulk request when the server supports Bulk (within ``maxOperations`` and
``maxPayloadSize``), else one request per change. A refused change (409, 400, 404…) is
a failed outcome with the server's words, never a failed run.

In a Bulk request, a new person whose manager is created in the same request points at
the manager by ``bulkId:`` reference (RFC 7644 section 3.7.2), so a whole initial load
goes in as few requests as the server's limits allow. A reference that cannot be
resolved (the manager is in an earlier request, was refused, or the server did not
resolve it) is replaced by the manager's SCIM id, or dropped, and that person is sent
again: the second pass of the apply then points them at the manager.

Discovery does not say whether a server resolves ``bulkId:`` references, and one that
stores the reference as text answers 201 all the same. So after each Bulk request that
used them, one person created by reference is read back (from the answer when it holds
the resource, else one GET): when their manager is not the manager's SCIM id, everyone
created by reference in that request is left for the second pass, which sets the SCIM
id, and the process stops using references for that server.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scim2_client import SCIMClientException
from scim2_models import SCIMException

from filebridge.lms.mirror import UNSETTLED, Entry, Mirror, Outcome
from filebridge.lms.scim.errors import ScimProtocolError, ScimUnavailable
from filebridge.lms.scim.features import Features
from filebridge.lms.scim.listing import find_by_key
from filebridge.lms.scim.resource import MANAGER, ResourceMapping
from filebridge.lms.scim.session import ScimSession, Unanswered

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
# Changes per chunk without Bulk: a crash loses the answers of at most this many, which
# the next run then looks up.
SINGLE_CHUNK = 100
# Room left in maxPayloadSize for the envelope and JSON spacing of a Bulk request.
_PAYLOAD_MARGIN = 0.9
# Servers (by URL) found storing a ``bulkId:`` reference as text instead of resolving
# it: for the rest of the process, managers go to them by SCIM id only.
_LITERAL_REFERENCES: set[str] = set()

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One request for one person. ``entry`` is the person's mirror row once confirmed
    (a create's gets its SCIM id from the answer); ``rebuild`` turns the resource as read
    into the body of a PUT, for servers without PATCH."""

    employee_id: str
    action: str
    method: str  # POST | PATCH | PUT | DELETE, or NONE: only the mirror changes
    path: str  # "Users" or "Users/<id>"
    body: dict[str, Any] | None
    entry: Entry | None
    rebuild: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # A create whose body names its manager by ``bulkId:`` reference: ``refers`` is the
    # manager's employee id, ``resolve`` gives the change with the manager's SCIM id
    # instead (None: without a manager).
    refers: str = ""
    resolve: Callable[[str | None], Change] | None = None


def bulk_id(employee_id: str) -> str:
    """The bulkId of a person's operation (hex, so any employee id is safe in it)."""
    return "p" + employee_id.encode("utf-8").hex()


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def refusal_reason(status: int, scim_type: str | None) -> str:
    """A stable kebab-case reason for a refused request (its scimType, else its status)."""
    if scim_type:
        return _kebab(scim_type)
    return {400: "invalid-value", 404: "not-found", 409: "conflict",
            412: "precondition-failed"}.get(status, f"http-{status}")


def _scim_id(answer: Any, location: str | None = None) -> str:
    if isinstance(answer, dict) and answer.get("id"):
        return str(answer["id"])
    if location:
        return location.rstrip("/").rsplit("/", 1)[-1]
    return ""


class Sender:
    """Sends changes of one connection's run and writes their outcomes."""

    def __init__(self, session: ScimSession, features: Features, mirror: Mirror,
                 connection: str, run_id: int | None, now: datetime, *, bulk: bool,
                 page_size: int, mapping: ResourceMapping) -> None:
        self.session = session
        self.mapping = mapping
        self.features = features
        self.mirror = mirror
        self.connection = connection
        self.run_id = run_id
        self.now = now
        self.bulk = bulk and features.bulk
        # Whether a new person may point at a manager created in the same Bulk request.
        self.references = self.bulk and session.target.url not in _LITERAL_REFERENCES
        self.page_size = page_size
        self.confirmed = 0
        # SCIM ids of the people this run created, and the creates whose manager
        # reference had to be dropped (the apply's second pass points them at it).
        self.created: dict[str, str] = {}
        self.detached: list[str] = []

    def send(self, changes: Sequence[Change]) -> list[Outcome]:
        """Send ``changes`` chunk by chunk; every outcome, in order."""
        out: list[Outcome] = []
        for chunk in self._chunks(changes):
            self.mirror.intend(self.connection, self.run_id,
                               [(c.employee_id, c.action) for c in chunk], self.now)
            # A change of fields the LMS does not hold needs no request, only the mirror.
            done = [Outcome(c.employee_id, c.action, True, entry=c.entry)
                    for c in chunk if c.method == "NONE"]
            chunk = [c for c in chunk if c.method != "NONE"]
            try:
                if chunk and self.bulk and all(c.rebuild is None for c in chunk):
                    done += self._bulk(chunk)
                else:
                    for change in chunk:
                        done.append(self._one(change))
            except ScimUnavailable as exc:
                self._settle(done)
                exc.done = self.confirmed
                raise
            self._settle(done)
            out += done
        return out

    def _settle(self, outcomes: list[Outcome]) -> None:
        self.mirror.settle(self.connection, self.run_id, outcomes, self.now)
        self.confirmed += sum(1 for o in outcomes if o.confirmed)

    def _chunks(self, changes: Sequence[Change]) -> Iterator[list[Change]]:
        if not (self.bulk and all(c.rebuild is None for c in changes)):
            for i in range(0, len(changes), SINGLE_CHUNK):
                yield list(changes[i:i + SINGLE_CHUNK])
            return
        limit = self.features.bulk_max_payload * _PAYLOAD_MARGIN
        chunk: list[Change] = []
        size = 200.0
        for change in changes:
            cost = len(json.dumps(self._operation(change), ensure_ascii=False)) + 2
            if chunk and (len(chunk) >= self.features.bulk_max_operations
                          or size + cost > limit):
                yield chunk
                chunk, size = [], 200.0
            chunk.append(change)
            size += cost
        if chunk:
            yield chunk

    # -- one request per change ----------------------------------------------------------

    def _one(self, change: Change) -> Outcome:
        try:
            answer, location = self._request(change)
        except SCIMException as exc:
            error = exc.to_error()
            status = int(error.status or 400)
            if change.method == "DELETE" and status == 404:
                return Outcome(change.employee_id, change.action, True)
            return Outcome(change.employee_id, change.action, False,
                           refusal_reason(status, error.scim_type), str(error.detail or exc))
        except Unanswered as exc:
            return self._recover(change, exc)
        except SCIMClientException as exc:
            raise ScimProtocolError(self.connection, self.session.target.url,
                                    f"{change.method} {change.path}: {exc}") from exc
        return self._confirmed(change, answer, location)

    def _confirmed(self, change: Change, answer: Any, location: str | None) -> Outcome:
        entry = change.entry
        if entry is not None and change.method == "POST":
            entry = replace(entry, lms_id=_scim_id(answer, location))
            self.created[change.employee_id] = entry.lms_id
        return Outcome(change.employee_id, change.action, True, entry=entry)

    def _resolved(self, change: Change, known: dict[str, str]) -> Change:
        """``change`` without its ``bulkId:`` reference: the manager's SCIM id from
        ``known``, or no manager (then the apply's second pass sets it)."""
        if change.resolve is None:
            return change
        sid = known.get(change.refers)
        if sid is None:
            self.detached.append(change.employee_id)
        return change.resolve(sid)

    def _request(self, change: Change) -> tuple[Any, str | None]:
        s = self.session
        opts: dict[str, Any] = {"check_request_payload": False,
                                "check_response_payload": False}
        if change.method == "POST":
            # Checked: scim2-models validates the body against the schemas the server
            # published, so a value it cannot take is refused here, as a row error.
            return s.create("User", change.body, check_response_payload=False), None
        if change.method == "DELETE":
            return s.delete("User", change.path.split("/", 1)[1], check_response_payload=False
                            ), None
        user_id = change.path.split("/", 1)[1]
        if change.method == "PATCH":
            return s.modify("User", user_id, change.body, **opts), None
        assert change.rebuild is not None
        current = s.query("User", user_id, check_request_payload=False,
                          check_response_payload=False)
        headers = {}
        version = (current.get("meta") or {}).get("version") if isinstance(current, dict) else None
        if self.features.etag and version:
            headers["If-Match"] = version
        body = change.rebuild(current if isinstance(current, dict) else {})
        return s.replace("User", body, headers=headers, check_response_payload=False), None

    def _recover(self, change: Change, exc: Unanswered) -> Outcome:
        """A create whose answer was lost: look it up, and send it again only if absent."""
        found = find_by_key(self.session, self.features, self.mapping, [change.employee_id],
                            self.page_size).get(change.employee_id)
        if found is not None:
            return self._confirmed(change, found, None)
        try:
            answer, location = self._request(change)
        except Unanswered:
            raise ScimUnavailable(self.connection, self.session.target.url,
                                  exc.reason) from exc
        except SCIMException as again:
            error = again.to_error()
            return Outcome(change.employee_id, change.action, False,
                           refusal_reason(int(error.status or 400), error.scim_type),
                           str(error.detail or again))
        return self._confirmed(change, answer, location)

    # -- Bulk --------------------------------------------------------------------------

    @staticmethod
    def _operation(change: Change) -> dict[str, Any]:
        op: dict[str, Any] = {"method": change.method, "path": "/" + change.path,
                              "bulkId": bulk_id(change.employee_id)}
        if change.body is not None:
            op["data"] = change.body
        return op

    def _bulk(self, chunk: list[Change]) -> list[Outcome]:
        here = {c.employee_id for c in chunk if c.method == "POST"} if self.references \
            else set()
        chunk = [c if c.refers in here else self._resolved(c, self.created) for c in chunk]
        # failOnErrors as large as the request: the server tries every operation, so one
        # person it refuses is that person's row error and never stops the others.
        request = {"schemas": [BULK], "failOnErrors": len(chunk),
                   "Operations": [self._operation(c) for c in chunk]}
        try:
            answer = self.session.bulk(request, check_request_payload=False,
                                       check_response_payload=False)
        except Unanswered:
            return self._bulk_unanswered(chunk)
        except SCIMException as exc:
            raise ScimProtocolError(self.connection, self.session.target.url,
                                    f"Bulk request refused: {exc}") from exc
        results = answer.get("Operations") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise ScimProtocolError(self.connection, self.session.target.url,
                                    "a Bulk answer without Operations")
        by_id = {r.get("bulkId"): r for r in results if isinstance(r, dict)}
        out = [self._bulk_outcome(c, by_id.get(bulk_id(c.employee_id))) for c in chunk]
        # A reference the server did not resolve (its manager refused, or references
        # not supported): nothing was created; send it again with the SCIM id or none.
        again = [i for i, (c, o) in enumerate(zip(chunk, out, strict=True))
                 if c.resolve is not None and not o.confirmed and o.reason != "not-processed"]
        if again:
            resent = self._bulk([self._resolved(chunk[i], self.created) for i in again])
            for i, outcome in zip(again, resent, strict=True):
                out[i] = outcome
        by_reference = [i for i, (c, o) in enumerate(zip(chunk, out, strict=True))
                        if c.resolve is not None and o.confirmed and i not in again]
        if by_reference:
            first = by_reference[0]
            resolved = self._resolved_by_server(chunk[first], out[first],
                                                by_id.get(bulk_id(chunk[first].employee_id)))
            if resolved is False:
                self._stop_references()
            if not resolved:  # unresolved, or the read-back failed: set them by SCIM id
                for i in by_reference:
                    out[i] = self._detach(out[i])
        return out

    def _resolved_by_server(self, change: Change, outcome: Outcome, result: Any
                            ) -> bool | None:
        """Whether the person ``change`` created by ``bulkId:`` reference has the SCIM id
        of their manager as manager: from the Bulk answer when it holds the resource,
        else read back with one GET (None: the server refused the GET)."""
        assert outcome.entry is not None
        resource = result.get("response") if isinstance(result, dict) else None
        if not (isinstance(resource, dict) and resource.get("id")):
            try:
                resource = self.session.query("User", outcome.entry.lms_id,
                                              check_request_payload=False,
                                              check_response_payload=False)
            except (SCIMException, SCIMClientException):
                return None
            if not (isinstance(resource, dict) and resource.get("id")):
                return None  # an error answer, not the person
        stored = self.mapping.raw(resource, MANAGER)
        return stored == self.created.get(change.refers)

    def _stop_references(self) -> None:
        """This server keeps ``bulkId:`` references as text: no more of them, for the rest
        of the run and of the process."""
        url = self.session.target.url
        if url not in _LITERAL_REFERENCES:
            log.warning("%s stored a bulkId: reference as text instead of the resource it "
                        "names; managers go to it by SCIM id from now on", url)
        _LITERAL_REFERENCES.add(url)
        self.references = False

    def _detach(self, outcome: Outcome) -> Outcome:
        """A person created with an unresolved manager reference: mirrored without a
        manager (and an unsettled fingerprint, so a later plan looks again), left for the
        apply's second pass to point at the manager's SCIM id."""
        assert outcome.entry is not None
        self.detached.append(outcome.employee_id)
        entry = replace(outcome.entry, fingerprint=UNSETTLED,
                        fields={**outcome.entry.fields, MANAGER: ""})
        return replace(outcome, entry=entry)

    def _bulk_unanswered(self, chunk: list[Change]) -> list[Outcome]:
        """A Bulk request whose answer was lost: its creates are looked up (many per
        request) and only the missing ones sent again; the rest is idempotent."""
        posts = [c.employee_id for c in chunk if c.method == "POST"]
        found = find_by_key(self.session, self.features, self.mapping, posts, self.page_size)
        out = [self._confirmed(c, found[c.employee_id], None)
               if c.method == "POST" and c.employee_id in found else None for c in chunk]
        return [o if o is not None else self._one(self._resolved(c, self.created))
                for c, o in zip(chunk, out, strict=True)]

    def _bulk_outcome(self, change: Change, result: Any) -> Outcome:
        if not isinstance(result, dict):
            # Not processed (the server stopped early): nothing happened to this one.
            return Outcome(change.employee_id, change.action, False, "not-processed",
                           "the Bulk answer has no result for this operation")
        status = int(str(result.get("status", "0")).split()[0] or 0)
        if 200 <= status < 300 or (change.method == "DELETE" and status == 404):
            return self._confirmed(change, result.get("response"), result.get("location"))
        response = result.get("response")
        error: dict[str, Any] = response if isinstance(response, dict) else {}
        return Outcome(change.employee_id, change.action, False,
                       refusal_reason(status, error.get("scimType")),
                       str(error.get("detail") or f"HTTP {status}"))
