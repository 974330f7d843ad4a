"""What a SCIM service provider says it supports, read once per run from
/ServiceProviderConfig, /Schemas and /ResourceTypes."""

from __future__ import annotations

from dataclasses import dataclass

from scim2_client import SCIMClientException
from scim2_models import SCIMException

from filebridge.lms.scim.errors import ScimProtocolError
from filebridge.lms.scim.session import ScimSession

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


@dataclass(frozen=True)
class Features:
    """The parts of a service provider's configuration the apply follows."""

    patch: bool
    etag: bool
    filter: bool
    filter_max_results: int
    bulk: bool
    bulk_max_operations: int
    bulk_max_payload: int
    cursor: bool
    max_page_size: int | None
    schemas: frozenset[str]  # every schema URN the User resource type carries
    groups: bool = False  # a Group resource type with the core Group schema

    def summary(self) -> str:
        """One line for the log and ``filebridge status``."""
        parts = [f"PATCH {'yes' if self.patch else 'no'}", f"ETag {'yes' if self.etag else 'no'}",
                 f"filter {'yes' if self.filter else 'no'}"]
        parts.append(f"Bulk up to {self.bulk_max_operations} operations" if self.bulk
                     else "Bulk no")
        parts.append(f"Groups {'yes' if self.groups else 'no'}")
        return ", ".join(parts)


def discover(session: ScimSession) -> Features:
    """Read the service provider's configuration, schemas and resource types."""
    try:
        session.discover()
    except (SCIMClientException, SCIMException) as exc:
        raise ScimProtocolError(session.connection, session.target.url,
                                f"its configuration cannot be read: {exc}") from exc
    provider = session.provider
    config = provider.config
    users = [rt for rt in provider.resource_types if rt.name == "User" or rt.id == "User"]
    if config is None or not users:
        raise ScimProtocolError(session.connection, session.target.url,
                                "it publishes no User resource type")
    user = users[0]
    groups = [rt for rt in provider.resource_types if rt.name == "Group" or rt.id == "Group"]
    schemas = {str(user.schema_)} | {str(e.schema_) for e in user.schema_extensions or []}
    bulk, flt, page = config.bulk, config.filter, config.pagination
    return Features(
        patch=bool(config.patch and config.patch.supported),
        etag=bool(config.etag and config.etag.supported),
        filter=bool(flt and flt.supported),
        filter_max_results=int((flt.max_results if flt else None) or 100),
        bulk=bool(bulk and bulk.supported and (bulk.max_operations or 0) > 0),
        bulk_max_operations=int((bulk.max_operations if bulk else None) or 0),
        # A server announcing no payload limit still has one; 1 MiB is the common one.
        bulk_max_payload=int((bulk.max_payload_size if bulk else None) or 1_048_576),
        cursor=bool(page and page.cursor and not page.index),
        max_page_size=page.max_page_size if page else None,
        schemas=frozenset(schemas),
        groups=bool(groups) and str(groups[0].schema_) == GROUP_SCHEMA,
    )
