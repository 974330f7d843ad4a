"""The admin pages as one Starlette application: server-rendered, no JavaScript build,
every asset served by the app itself.

One ``Context`` is opened at start and shared by the request threads (engines pool
their connections). Every path except ``/login`` and ``/static/`` needs a session;
requests without one are sent to the login page. Errors become a page with the same
code and advice as the CLI, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from filebridge.daemon import load_schedules
from filebridge.errors import FilebridgeError, Transient
from filebridge.explain import explain
from filebridge.ledger.locks import ConnectionBusy
from filebridge.pipeline.context import open_context
from filebridge.pipeline.overview import busy_with
from filebridge.web import actions, pages
from filebridge.web.auth import SESSION_COOKIE, current_session, secret_key
from filebridge.web.rendering import HERE, WebApp, render, templates, web

log = logging.getLogger(__name__)
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)
NOT_FOUND_CODES = {"unknown-run", "unknown-file", "unknown-connection", "unknown-user"}
CONFLICT_CODES = {"not-held", "connection-busy", "user-exists"}
# No script runs on these pages; styles and images come from the app only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(BaseHTTPMiddleware):
    """Every path but the login page and static files needs a live session."""

    async def dispatch(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Attach the session, or redirect to the login page; add security headers."""
        path = request.url.path
        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            app = web(request)
            found = await run_in_threadpool(current_session, app.accounts, app.secret,
                                            request.cookies.get(SESSION_COOKIE))
            if found is None:
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response: Response = RedirectResponse(f"/login?next={quote(target)}", 303)
                response.delete_cookie(SESSION_COOKIE, path="/")
                return _secure(response)
            request.state.token, request.state.session = found
        return _secure(await call_next(request))


def _secure(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def error_page(request: Request, exc: Exception) -> Response:
    """The page for any error: the CLI's code and advice, never a traceback."""
    if isinstance(exc, HTTPException):
        return render(request, "error.html", {"code": str(exc.status_code),
                                              "lines": [str(exc.detail)], "busy": []},
                      exc.status_code)
    explanation = explain(exc)
    lines = list(explanation.lines)
    if not explanation.known:
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        lines.append("the traceback is in the log of the filebridge web process")
    busy = []
    if isinstance(exc, ConnectionBusy):
        # Lock names are a connection's name, or "NAME/purpose" (the pickup of a sync).
        busy = busy_with(web(request).ctx, exc.connection.split("/", 1)[0])
    status = (404 if explanation.code in NOT_FOUND_CODES
              else 409 if explanation.code in CONFLICT_CODES
              else 503 if isinstance(exc, Transient)
              else 400 if isinstance(exc, FilebridgeError) else 500)
    return render(request, "error.html", {"code": explanation.code, "lines": lines,
                                          "busy": busy},
                  status)


def routes() -> list[Route | Mount]:
    """Every route of the application (the security tests walk this list)."""
    return [
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", actions.login, methods=["POST"]),
        Route("/logout", actions.logout, methods=["POST"]),
        Route("/", pages.tiles, methods=["GET"]),
        Route("/runs", pages.history, methods=["GET"]),
        Route("/runs/{run_id:int}", pages.run, methods=["GET"]),
        Route("/runs/{run_id:int}/rejects.csv", pages.rejects_csv, methods=["GET"]),
        Route("/runs/{run_id:int}/report.json", pages.report_json, methods=["GET"]),
        Route("/runs/{run_id:int}/approve", actions.approve, methods=["POST"]),
        Route("/runs/{run_id:int}/discard", actions.discard, methods=["POST"]),
        Route("/held", pages.held, methods=["GET"]),
        Route("/files", pages.files, methods=["GET"]),
        Route("/files/{file_id:int}/replay", actions.replay, methods=["POST"]),
        Route("/connections/{name}/sync", actions.sync, methods=["POST"]),
        Route("/connections/{name}/chart.svg", pages.chart, methods=["GET"]),
        Route("/check", pages.check, methods=["GET"]),
        Route("/activity", pages.activity, methods=["GET"]),
        Route("/users", pages.users, methods=["GET"]),
        Route("/users", actions.add_user, methods=["POST"]),
        Route("/users/{name}/role", actions.set_role, methods=["POST"]),
        Route("/users/{name}/password", actions.set_password, methods=["POST"]),
        Route("/users/{name}/remove", actions.remove_user, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def create_app(settings_path: Path, *, session_hours: float = 8.0,
               secure_cookies: bool = False) -> Starlette:
    """The application for the state of ``settings_path`` (stores opened and migrated now)."""
    ctx = open_context(settings_path)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = Starlette(routes=routes(), middleware=[Middleware(LoginRequired)],
                    exception_handlers={Exception: error_page, HTTPException: error_page,
                                        FilebridgeError: error_page},
                    lifespan=lifespan)
    app.state.web = WebApp(ctx, settings_path, ctx.ledger.web_accounts,
                           secret_key(ctx.settings.state_dir), templates(),
                           load_schedules(ctx.settings), timedelta(hours=session_hours),
                           secure_cookies)
    return app
