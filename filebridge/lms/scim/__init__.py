"""The SCIM 2.0 target: feed a real LMS's users over RFC 7643/7644 provisioning.

Imported only when a connection's ``lms`` block says ``type: scim``: the built-in store
never loads HTTP libraries.
"""

from filebridge.lms.scim.errors import (
    ScimError,
    ScimNotConfigured,
    ScimProtocolError,
    ScimRefused,
    ScimUnavailable,
)
from filebridge.lms.scim.store import ScimLms
from filebridge.lms.scim.target import ScimTarget, target_from_config

__all__ = ["ScimError", "ScimLms", "ScimNotConfigured", "ScimProtocolError", "ScimRefused",
           "ScimTarget", "ScimUnavailable", "target_from_config"]
