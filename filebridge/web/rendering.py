"""What every page handler shares: the application's state, rendering, the time format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from filebridge.daemon.schedule import ConnectionSchedule
from filebridge.ledger.web_accounts import Role, WebAccounts, WebUser
from filebridge.pipeline.context import Context
from filebridge.web.auth import may

HERE = Path(__file__).parent


@dataclass
class WebApp:
    """What every handler shares: the open stores, the accounts, the secret, the templates."""

    ctx: Context
    settings_path: Path
    accounts: WebAccounts
    secret: bytes
    templates: Jinja2Templates
    schedules: dict[str, ConnectionSchedule]
    session_lifetime: timedelta
    secure_cookies: bool  # Secure flag even when the request looks like plain http

    def cookie_secure(self, request: Request) -> bool:
        """Whether cookies get the Secure flag: always with --https-only, else under https."""
        return self.secure_cookies or request.url.scheme == "https"


def web(request: Request) -> WebApp:
    """The shared state of the application serving ``request``."""
    return request.app.state.web  # type: ignore[no-any-return]


def render(request: Request, template: str, values: dict[str, Any],
           status: int = 200) -> Response:
    """A page from ``template`` with the user, their CSRF token and ``values``."""
    session = getattr(request.state, "session", None)
    return web(request).templates.TemplateResponse(
        request, template, {"session": session, "user": session.user if session else None,
                            "csrf": session.csrf if session else "", **values},
        status_code=status)


def when(value: Any) -> str:
    """A time for people: ``YYYY-MM-DD HH:MM:SS UTC`` (blank for none)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def templates() -> Jinja2Templates:
    """The page templates, every value escaped unless a template says otherwise."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["when"] = when
    return Jinja2Templates(env=env)


def require(request: Request, role: Role) -> WebUser:
    """The logged-in user, who must have ``role`` or more (else 403)."""
    user: WebUser = request.state.session.user
    if not may(user, role):
        raise HTTPException(403, f"not allowed: this needs the {role} role "
                                 f"(you are {user.name}, {user.role})")
    return user
