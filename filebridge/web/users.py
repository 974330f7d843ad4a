"""Managing the people who may log in: add, change a password or role, remove.

Used by ``filebridge web add-user|passwd|remove-user`` and by the admin's users page;
every change is recorded in the ledger's action log with who made it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from filebridge.errors import Terminal
from filebridge.ledger.web_accounts import WebAccounts, WebUser
from filebridge.web.auth import check_role, hash_password

NAME_PATTERN = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")


class BadUserName(Terminal):
    """A user name with characters outside letters, digits and ``. _ @ -``."""

    code = "bad-user-name"

    def __init__(self, name: str) -> None:
        super().__init__(f"user name {name!r}: use 1 to 100 letters, digits, '.', '_', '@' "
                         "or '-'")
        self.name = name


def _now() -> datetime:
    return datetime.now(UTC)


def add_user(accounts: WebAccounts, name: str, role: str, password: str, *, by: str
             ) -> WebUser:
    """Create a user with an argon2-hashed password; recorded as an action of ``by``."""
    if not NAME_PATTERN.match(name):
        raise BadUserName(name)
    user = accounts.add_user(name, check_role(role), hash_password(password), _now())
    accounts.record_action(by, "add-user", _now(), outcome="done", target=f"user {name}",
                           detail={"role": user.role})
    return user


def change_password(accounts: WebAccounts, name: str, password: str, *, by: str) -> None:
    """Set a new password; every session of the user ends."""
    accounts.set_password(name, hash_password(password), _now())
    accounts.record_action(by, "passwd", _now(), outcome="done", target=f"user {name}")


def change_role(accounts: WebAccounts, name: str, role: str, *, by: str) -> None:
    """Give a user another role."""
    accounts.set_role(name, check_role(role))
    accounts.record_action(by, "set-role", _now(), outcome="done", target=f"user {name}",
                           detail={"role": role})


def remove_user(accounts: WebAccounts, name: str, *, by: str) -> None:
    """Delete a user; their sessions end at once."""
    accounts.remove_user(name)
    accounts.record_action(by, "remove-user", _now(), outcome="done", target=f"user {name}")
