"""Who may use the admin pages: argon2 password hashes, sessions, CSRF tokens, roles, and
failed logins slowed down per user and per address.

A session cookie holds a random token and its HMAC under the server's secret; the
ledger keeps only the token's SHA-256, the user, the session's CSRF token and its
expiry. Logging out, changing a password or removing a user ends sessions at once.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from filebridge.errors import Terminal
from filebridge.ledger.web_accounts import ROLES, Role, WebAccounts, WebSession, WebUser

SESSION_COOKIE = "filebridge_session"
LOGIN_COOKIE = "filebridge_login"  # binds the login form's CSRF token before a session exists
FREE_FAILURES = 3  # failed logins before each further attempt must wait
FIRST_DELAY = 5.0  # seconds after the third failure, doubling with each further one
MAX_DELAY = 300.0  # seconds: the longest wait after many failures
MIN_PASSWORD = 8

_hasher = PasswordHasher()
# Verified when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class WeakPassword(Terminal):
    """A new password is too short."""

    code = "weak-password"

    def __init__(self) -> None:
        super().__init__(f"a password needs at least {MIN_PASSWORD} characters")


class BadRole(Terminal):
    """A role outside the closed list."""

    code = "unknown-role"

    def __init__(self, role: str) -> None:
        super().__init__(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
        self.role = role


def hash_password(password: str) -> str:
    """The argon2id hash of a new password (refused when shorter than ``MIN_PASSWORD``)."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword()
    return _hasher.hash(password)


def check_role(role: str) -> Role:
    """``role`` if it is one of the closed list."""
    for known in ROLES:
        if role == known:
            return known
    raise BadRole(role)


def may(user: WebUser, needed: Role) -> bool:
    """True when ``user``'s role includes what ``needed`` may do."""
    return ROLES.index(user.role) >= ROLES.index(needed)


def secret_key(state_dir: Path) -> bytes:
    """The server's signing secret: ``state_dir/web/secret``, created (mode 600) when missing."""
    path = state_dir / "web" / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def sign(secret: bytes, value: str) -> str:
    """``value`` with its HMAC, for a cookie."""
    mac = hmac.new(secret, value.encode(), sha256).hexdigest()
    return f"{value}.{mac}"


def unsign(secret: bytes, signed: str | None) -> str | None:
    """The value of a signed cookie, or None when it is missing or was tampered with."""
    if not signed or "." not in signed:
        return None
    value, _, mac = signed.rpartition(".")
    good = hmac.new(secret, value.encode(), sha256).hexdigest()
    return value if hmac.compare_digest(mac, good) else None


def login_csrf(secret: bytes, nonce: str) -> str:
    """The login form's CSRF token, derived from the nonce in its cookie."""
    return hmac.new(secret, f"login:{nonce}".encode(), sha256).hexdigest()


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


@dataclass(frozen=True)
class LoginResult:
    """A login attempt: the new session token, or why not and how long to wait."""

    token: str | None
    user: WebUser | None
    message: str
    wait_seconds: float = 0.0


def delay_after(failures: int) -> float:
    """How long the next attempt must wait after ``failures`` failed logins in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(FIRST_DELAY * 2.0 ** (failures - FREE_FAILURES), MAX_DELAY)


def throttle_keys(name: str, address: str) -> list[str]:
    """The counters a login attempt is slowed by: its user and its address."""
    return [f"user:{name.lower()}", f"address:{address}"]


def wait_needed(accounts: WebAccounts, keys: list[str], now: datetime) -> float:
    """Seconds until another attempt for these keys is allowed (0 when it is now)."""
    waits = [(last + timedelta(seconds=delay_after(n)) - now).total_seconds()
             for n, last in accounts.failures(keys).values()]
    return max([0.0, *waits])


def log_in(accounts: WebAccounts, name: str, password: str, address: str, now: datetime,
           lifetime: timedelta) -> LoginResult:
    """Check a name and password, slowed down per user and address; open a session."""
    keys = throttle_keys(name, address)
    wait = wait_needed(accounts, keys, now)
    if wait > 0:
        return LoginResult(None, None, f"too many failed logins: try again in {wait:.0f} s",
                           wait)
    user = accounts.find_user(name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        accounts.record_failure(keys, now)
        return LoginResult(None, None, "wrong user name or password",
                           wait_needed(accounts, keys, now))
    accounts.clear_failures(keys)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    accounts.open_session(token, user.name, csrf, now, now + lifetime)
    return LoginResult(token, user, "")


def current_session(accounts: WebAccounts, secret: bytes, cookie: str | None,
                    now: datetime | None = None) -> tuple[str, WebSession] | None:
    """The session of a request's cookie (token and session), or None."""
    token = unsign(secret, cookie)
    if token is None:
        return None
    found = accounts.session(token, now or datetime.now(UTC))
    return (token, found) if found else None
