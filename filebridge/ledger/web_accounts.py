"""What the admin pages keep in the ledger: users, sessions, failed logins, and actions.

Passwords arrive here already hashed (the web box hashes them); a session is stored
by the SHA-256 of its token, so the database never holds a usable cookie. Every
action a person takes on the pages (approve, discard, replay, sync, user changes) is
one row of ``web_actions`` naming the user, so "who approved run 42, when" is a query.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.ledger.errors import LedgerError
from filebridge.sql import reading

Role = Literal["admin", "support", "viewer"]
ROLES: tuple[Role, ...] = ("viewer", "support", "admin")  # each may do what those before may

metadata = sa.MetaData()

web_users = sa.Table(
    "web_users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'support', 'viewer')", name="ck_web_users_role"),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user", sa.String(100), nullable=False, index=True),
    sa.Column("csrf", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

web_login_failures = sa.Table(
    "web_login_failures",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),  # user:NAME or address:IP
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
)

web_actions = sa.Table(
    "web_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user", sa.String(100), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("connection", sa.String(200), nullable=True),
    sa.Column("target", sa.String(200), nullable=True),  # "run 42", "file 7", "user ann"
    sa.Column("run_id", sa.Integer, nullable=True),  # the run the action produced
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_web_actions_run", "run_id"),
)


def create_web_tables(conn: Connection) -> None:
    """Ledger migration 0006: users, sessions, failed logins and actions of the admin pages."""
    metadata.create_all(conn, checkfirst=True)


class UnknownUser(LedgerError):
    """No web user has this name."""

    code = "unknown-user"

    def __init__(self, name: str) -> None:
        super().__init__(f"no web user named {name!r}")
        self.name = name


class UserExists(LedgerError):
    """A web user with this name exists already."""

    code = "user-exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"a web user named {name!r} exists already")
        self.name = name


@dataclass(frozen=True)
class WebUser:
    """A person who may log in to the admin pages."""

    name: str
    role: Role
    password_hash: str
    created_at: datetime
    password_changed_at: datetime


@dataclass(frozen=True)
class WebSession:
    """A logged-in session: whose, its CSRF token and when it ends."""

    user: WebUser
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class WebAction:
    """One recorded action of a person on the admin pages."""

    id: int
    user: str
    action: str
    connection: str | None
    target: str | None
    run_id: int | None
    outcome: str
    at: datetime
    detail: dict[str, Any]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def token_digest(token: str) -> str:
    """How a session token is stored: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class WebAccounts:
    """Users, sessions, failed-login counters and the action log, in the ledger database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- users -----------------------------------------------------------------

    def add_user(self, name: str, role: Role, password_hash: str, now: datetime) -> WebUser:
        """Create a user; ``UserExists`` when the name is taken."""
        with self.engine.begin() as tx:
            if tx.scalar(sa.select(sa.func.count()).where(web_users.c.name == name)):
                raise UserExists(name)
            tx.execute(web_users.insert().values(name=name, role=role,
                                                 password_hash=password_hash,
                                                 created_at=now, password_changed_at=now))
        return self.user(name)

    def user(self, name: str) -> WebUser:
        """The named user; ``UnknownUser`` if there is none."""
        found = self.find_user(name)
        if found is None:
            raise UnknownUser(name)
        return found

    def find_user(self, name: str) -> WebUser | None:
        """The named user, or None."""
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(web_users).where(web_users.c.name == name)).first()
        return _user(row._mapping) if row else None

    def users(self) -> list[WebUser]:
        """Every user, by name."""
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(web_users).order_by(web_users.c.name))
            return [_user(r._mapping) for r in rows]

    def set_password(self, name: str, password_hash: str, now: datetime) -> None:
        """Replace a user's password hash and end every session of that user."""
        with self.engine.begin() as tx:
            found = tx.execute(web_users.update().where(web_users.c.name == name).values(
                password_hash=password_hash, password_changed_at=now)).rowcount
            if not found:
                raise UnknownUser(name)
            tx.execute(web_sessions.delete().where(web_sessions.c.user == name))

    def set_role(self, name: str, role: Role) -> None:
        """Change a user's role (their sessions see it at the next request)."""
        with self.engine.begin() as tx:
            if not tx.execute(web_users.update().where(web_users.c.name == name)
                              .values(role=role)).rowcount:
                raise UnknownUser(name)

    def remove_user(self, name: str) -> None:
        """Delete a user and end their sessions."""
        with self.engine.begin() as tx:
            tx.execute(web_sessions.delete().where(web_sessions.c.user == name))
            if not tx.execute(web_users.delete().where(web_users.c.name == name)).rowcount:
                raise UnknownUser(name)

    # -- sessions --------------------------------------------------------------

    def open_session(self, token: str, user: str, csrf: str, now: datetime,
                     expires_at: datetime) -> None:
        """Record a new session (by the digest of ``token``); drops expired ones."""
        with self.engine.begin() as tx:
            tx.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))
            tx.execute(web_sessions.insert().values(
                token_sha256=token_digest(token), user=user, csrf=csrf, created_at=now,
                expires_at=expires_at))

    def session(self, token: str, now: datetime) -> WebSession | None:
        """The live session of ``token`` with its user, or None (unknown, expired, removed)."""
        stmt = (sa.select(web_sessions.c.csrf, web_sessions.c.expires_at, web_users)
                .join(web_users, web_users.c.name == web_sessions.c.user)
                .where(web_sessions.c.token_sha256 == token_digest(token)))
        with reading(self.engine) as conn:
            row = conn.execute(stmt).first()
        if row is None or _utc(row.expires_at) <= now:
            return None
        user = _user({c.name: row._mapping[c.name] for c in web_users.c})
        return WebSession(user, row.csrf, _utc(row.expires_at))

    def close_session(self, token: str) -> None:
        """End a session (logout)."""
        with self.engine.begin() as tx:
            tx.execute(web_sessions.delete().where(
                web_sessions.c.token_sha256 == token_digest(token)))

    # -- failed logins ---------------------------------------------------------

    def failures(self, keys: list[str]) -> dict[str, tuple[int, datetime]]:
        """Failed-login count and time of the last failure, per key that has any."""
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(web_login_failures).where(
                web_login_failures.c.key.in_(keys)))
            return {r.key: (r.failures, _utc(r.last_failure_at)) for r in rows}

    def record_failure(self, keys: list[str], now: datetime) -> None:
        """Count one more failed login against each key."""
        with self.engine.begin() as tx:
            for key in keys:
                done = tx.execute(web_login_failures.update()
                                  .where(web_login_failures.c.key == key)
                                  .values(failures=web_login_failures.c.failures + 1,
                                          last_failure_at=now)).rowcount
                if not done:
                    tx.execute(web_login_failures.insert().values(
                        key=key, failures=1, last_failure_at=now))

    def clear_failures(self, keys: list[str]) -> None:
        """Forget failed logins of these keys (after a successful login)."""
        with self.engine.begin() as tx:
            tx.execute(web_login_failures.delete().where(web_login_failures.c.key.in_(keys)))

    # -- actions ---------------------------------------------------------------

    def record_action(self, user: str, action: str, now: datetime, *, outcome: str,
                      connection: str | None = None, target: str | None = None,
                      run_id: int | None = None, detail: dict[str, Any] | None = None) -> int:
        """Write one action of ``user`` to the log; returns its id."""
        with self.engine.begin() as tx:
            return int(tx.scalar(web_actions.insert().values(
                user=user, action=action, connection=connection, target=target,
                run_id=run_id, outcome=outcome, at=now,
                detail=json.dumps(detail or {}, ensure_ascii=False, default=str))
                .returning(web_actions.c.id)))

    def actions(self, *, run_id: int | None = None, target: str | None = None,
                limit: int = 100) -> list[WebAction]:
        """Recorded actions newest first; only those that produced or name a run if asked."""
        stmt = sa.select(web_actions).order_by(web_actions.c.id.desc()).limit(limit)
        if run_id is not None:
            stmt = stmt.where(sa.or_(web_actions.c.run_id == run_id,
                                     web_actions.c.target == f"run {run_id}"))
        elif target is not None:
            stmt = stmt.where(web_actions.c.target == target)
        with reading(self.engine) as conn:
            return [WebAction(**{**r._mapping, "at": _utc(r.at),
                                 "detail": json.loads(r.detail or "{}")})
                    for r in conn.execute(stmt)]


def _user(row: Any) -> WebUser:
    return WebUser(name=row["name"], role=row["role"], password_hash=row["password_hash"],
                   created_at=_utc(row["created_at"]),
                   password_changed_at=_utc(row["password_changed_at"]))
