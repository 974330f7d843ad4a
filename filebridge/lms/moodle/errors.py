"""Errors of a Moodle target: each names the function called and Moodle's own words.

The token itself never appears in a message or a field.
"""

from __future__ import annotations

from filebridge.errors import Terminal, Transient
from filebridge.lms.errors import StoreError

# The capabilities the token's user needs for each web-service function filebridge calls.
CAPABILITIES: dict[str, tuple[str, ...]] = {
    "core_webservice_get_site_info": (),
    "core_user_create_users": ("moodle/user:create",),
    "core_user_update_users": ("moodle/user:update",),
    "core_user_delete_users": ("moodle/user:delete",),
    "core_user_get_users_by_field": ("moodle/user:viewdetails",
                                     "moodle/user:viewhiddendetails",
                                     "moodle/course:useremail", "moodle/user:update"),
    "core_course_get_courses_by_field": ("moodle/course:view",
                                         "moodle/course:viewhiddencourses"),
    "core_enrol_get_enrolled_users": ("moodle/user:viewdetails",
                                      "moodle/user:viewhiddendetails",
                                      "moodle/course:useremail", "moodle/user:update",
                                      "moodle/site:accessallgroups"),
    "core_completion_get_course_completion_status": ("report/completion:view",),
    "core_cohort_get_cohorts": ("moodle/cohort:view",),
    "core_cohort_create_cohorts": ("moodle/cohort:manage",),
    "core_cohort_get_cohort_members": ("moodle/cohort:view",),
    "core_cohort_add_cohort_members": ("moodle/cohort:assign",),
    "core_cohort_delete_cohort_members": ("moodle/cohort:assign",),
}


class MoodleError(StoreError):
    """Base of the errors of a Moodle target."""

    code = "moodle-error"


class MoodleUnavailable(MoodleError, Transient):
    """Moodle did not answer in time, answered with a server error, or is in
    maintenance mode: the run stops and is retried later."""

    code = "moodle-unavailable"

    def __init__(self, url: str, function: str, reason: str) -> None:
        super().__init__(f"Moodle at {url} is unavailable ({function}): {reason}; "
                         "nothing more was sent, the next run converges")
        self.url = url
        self.function = function
        self.reason = reason


class MoodleAccessDenied(MoodleError, Terminal):
    """The token is wrong, or its service or user lacks a function or capability."""

    code = "moodle-access-denied"

    def __init__(self, url: str, function: str, errorcode: str, message: str) -> None:
        needed = CAPABILITIES.get(function, ())
        if errorcode == "invalidtoken":
            advice = "the token is unknown or expired: create a new one for the service"
        else:
            advice = (f"add the function {function} to the token's external service"
                      + (f" and give the token's user the capabilit"
                         f"{'y' if len(needed) == 1 else 'ies'} {', '.join(needed)}"
                         if needed else ""))
        super().__init__(f"Moodle at {url} refused {function} ({errorcode}: {message}); "
                         f"{advice}")
        self.url = url
        self.function = function
        self.errorcode = errorcode
        self.moodle_message = message
        self.capabilities = list(needed)


class MoodleRejected(MoodleError, Terminal):
    """Moodle refused a call that carried no single person to blame."""

    code = "moodle-rejected"

    def __init__(self, url: str, function: str, errorcode: str, message: str) -> None:
        super().__init__(f"Moodle at {url} refused {function} ({errorcode}: {message})")
        self.url = url
        self.function = function
        self.errorcode = errorcode
        self.moodle_message = message


class MoodleTruncated(MoodleError, Terminal):
    """Moodle answered for fewer people than were sent: PHP's ``max_input_vars`` on the
    site is lower than the request filebridge sent (the connection's ``max_input_vars``
    setting is too high, or the site's limit changed since it was probed)."""

    code = "moodle-truncated"

    def __init__(self, url: str, function: str, sent: int, answered: int) -> None:
        super().__init__(f"Moodle at {url} answered {function} for {answered} of {sent} "
                         "people: its PHP max_input_vars is lower than the request; remove "
                         "or lower the connection's lms.max_input_vars (without it, "
                         "filebridge finds the limit from the site)")
        self.url = url
        self.function = function
        self.sent = sent
        self.answered = answered


class MoodleNotConfigured(MoodleError, Terminal):
    """A connection without a Moodle ``lms`` block was asked of the Moodle target."""

    code = "moodle-not-configured"

    def __init__(self, connection: str) -> None:
        super().__init__(f"connection {connection} does not feed this Moodle target")
        self.connection = connection


class MoodleDatabaseRefused(MoodleError, Terminal):
    """Moodle's database refused the completions query: a table is missing (another
    ``table_prefix``) or the read-only user may not read it."""

    code = "moodle-database-refused"

    def __init__(self, url: str, prefix: str, reason: str) -> None:
        super().__init__(f"Moodle's database at {url} refused the completions query "
                         f"({reason}); check lms.completions.table_prefix ({prefix}) and "
                         f"grant its user SELECT on {prefix}course_completions, "
                         f"{prefix}user and {prefix}course")
        self.url = url
        self.prefix = prefix
        self.reason = reason
