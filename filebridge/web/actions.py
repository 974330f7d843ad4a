"""The forms that change something: log in and out, approve, discard, replay, sync, users.

Every POST carries the session's CSRF token and needs a role: support approves,
discards, replays and syncs; admin manages users. Approve and replay run the same
library functions as the CLI, in two steps: the plan against the LMS as it is now
is shown first, and the confirmation applies only if the plan is still the one shown.
Each action is recorded in the ledger with the user's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from filebridge.ledger.web_accounts import Role, WebUser
from filebridge.pipeline.lifecycle import approve as approve_run
from filebridge.pipeline.lifecycle import discard as discard_run
from filebridge.pipeline.overview import changes_nothing, plan_digest, replay_file
from filebridge.pipeline.report import RunReport
from filebridge.web import users as user_admin
from filebridge.web.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    log_in,
    login_csrf,
    same_token,
    sign,
    unsign,
)
from filebridge.web.pages import login_form, safe_next
from filebridge.web.rendering import render, require, web

FAILED_LOGIN_PAUSE = 0.5  # seconds every failed attempt costs its sender, on top of the waits


def _now() -> datetime:
    return datetime.now(UTC)


async def posted(request: Request, role: Role) -> tuple[WebUser, FormData]:
    """The form of a POST whose CSRF token matches the session, from a user with ``role``."""
    form = await request.form()
    token = form.get("csrf")
    if not same_token(request.state.session.csrf, token if isinstance(token, str) else None):
        raise HTTPException(403, "the form's security token is missing or wrong: reload the "
                                 "page and try again")
    return require(request, role), form


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


async def login(request: Request) -> Response:
    """POST /login: check the form's token, the password and the throttle; open a session."""
    app = web(request)
    form = await request.form()
    nonce = unsign(app.secret, request.cookies.get(LOGIN_COOKIE))
    if nonce is None or not same_token(login_csrf(app.secret, nonce), _text(form, "csrf")):
        raise HTTPException(403, "the login form expired or did not come from this site: "
                                 "reload it and try again")
    name, address = _text(form, "name").strip(), request.client.host if request.client else "-"
    result = await run_in_threadpool(log_in, app.accounts, name, _text(form, "password"),
                                     address, _now(), app.session_lifetime)
    if result.token is None or result.user is None:
        await asyncio.sleep(FAILED_LOGIN_PAUSE)
        request.state.next = _text(form, "next")
        return login_form(request, result.message, 429 if "too many" in result.message else 401)
    await run_in_threadpool(app.accounts.record_action, result.user.name, "login", _now(),
                            outcome="done", detail={"address": address})
    response = RedirectResponse(safe_next(_text(form, "next")), 303)
    response.set_cookie(SESSION_COOKIE, sign(app.secret, result.token),
                        max_age=int(app.session_lifetime.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=app.cookie_secure(request))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    """POST /logout: end the session."""
    user, _ = await posted(request, "viewer")
    app = web(request)
    await run_in_threadpool(app.accounts.close_session, request.state.token)
    await run_in_threadpool(app.accounts.record_action, user.name, "logout", _now(),
                            outcome="done")
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _confirming(form: FormData) -> Callable[[RunReport], bool]:
    """The confirm callback: yes only on the apply step, and only for the plan shown."""
    shown = _text(form, "digest") if _text(form, "step") == "apply" else ""
    return lambda report: bool(shown) and plan_digest(report) == shown


def _plan_page(request: Request, report: RunReport, title: str, action: str,
               form: FormData, extra: dict[str, Any]) -> Response:
    changed = _text(form, "step") == "apply"
    return render(request, "confirm.html", {
        "title": title, "action": action, "r": report.to_dict(), "digest": plan_digest(report),
        "changed": changed, "nothing": changes_nothing(report), **extra})


async def approve(request: Request) -> Response:
    """POST /runs/N/approve: re-plan the held run now; apply it once the plan is confirmed."""
    user, form = await posted(request, "support")
    app, run_id = web(request), int(request.path_params["run_id"])
    report = await run_in_threadpool(lambda: approve_run(
        app.ctx, run_id, _confirming(form), actor=user.name))
    await run_in_threadpool(app.accounts.record_action, user.name, "approve", _now(),
                            outcome=report.state, connection=report.connection,
                            target=f"run {run_id}", run_id=report.run_id)
    if report.state == "applied":
        return RedirectResponse(f"/runs/{report.run_id}", 303)
    return _plan_page(request, report, f"Approve held run {run_id}",
                      f"/runs/{run_id}/approve", form, {"about": run_id})


async def discard(request: Request) -> Response:
    """POST /runs/N/discard: drop a held run, nothing applied."""
    user, _ = await posted(request, "support")
    app, run_id = web(request), int(request.path_params["run_id"])
    report = await run_in_threadpool(lambda: discard_run(app.ctx, run_id, actor=user.name))
    await run_in_threadpool(app.accounts.record_action, user.name, "discard", _now(),
                            outcome="discarded", connection=report.connection,
                            target=f"run {run_id}", run_id=report.run_id)
    return RedirectResponse(f"/runs/{run_id}", 303)


async def replay(request: Request) -> Response:
    """POST /files/N/replay: plan the file against the LMS now; apply once confirmed."""
    user, form = await posted(request, "support")
    app, file_id = web(request), int(request.path_params["file_id"])
    force = _text(form, "force") == "yes"
    report = await run_in_threadpool(lambda: replay_file(
        app.ctx, str(file_id), _confirming(form), force=force, actor=user.name))
    await run_in_threadpool(app.accounts.record_action, user.name, "replay", _now(),
                            outcome=report.state, connection=report.connection,
                            target=f"file {file_id}", run_id=report.run_id,
                            detail={"force": force})
    if report.state != "planned":
        return RedirectResponse(f"/runs/{report.run_id}", 303)
    return _plan_page(request, report, f"Replay file {file_id} ({report.file})",
                      f"/files/{file_id}/replay", form, {"force": force})


async def sync(request: Request) -> Response:
    """POST /connections/NAME/sync: pick up and import every finished file now."""
    user, _ = await posted(request, "support")
    app, name = web(request), request.path_params["name"]

    def work() -> dict[str, Any]:
        # Loaded here: the SSH client costs start-up time and only a sync needs it.
        from filebridge.pipeline.pickup import settle_seconds, sync_connection

        app.ctx.connection(name)
        return sync_connection(app.ctx, name,
                               wait_seconds=settle_seconds(app.ctx, name)).to_dict()

    report = await run_in_threadpool(work)
    await run_in_threadpool(app.accounts.record_action, user.name, "sync", _now(),
                            outcome=f"exit {report['exit_code']}", connection=name,
                            detail={"files": [f["name"] for f in report["files"]]})
    return render(request, "sync.html", {"s": report})


async def add_user(request: Request) -> Response:
    """POST /users (admin): a new user with a role and a first password."""
    admin, form = await posted(request, "admin")
    accounts = web(request).accounts
    await run_in_threadpool(lambda: user_admin.add_user(
        accounts, _text(form, "name").strip(), _text(form, "role"), _text(form, "password"),
        by=admin.name))
    return RedirectResponse("/users", 303)


async def _change_user(request: Request, change: Callable[..., None], key: str) -> Response:
    """An admin's change of the user in the path: ``change(accounts, name, form[key])``."""
    admin, form = await posted(request, "admin")
    name = request.path_params["name"]
    await run_in_threadpool(lambda: change(
        web(request).accounts, name, _text(form, key), by=admin.name))
    return RedirectResponse("/users", 303)


async def set_role(request: Request) -> Response:
    """POST /users/NAME/role (admin)."""
    return await _change_user(request, user_admin.change_role, "role")


async def set_password(request: Request) -> Response:
    """POST /users/NAME/password (admin): a new password; the user's sessions end."""
    return await _change_user(request, user_admin.change_password, "password")


async def remove_user(request: Request) -> Response:
    """POST /users/NAME/remove (admin); an admin cannot remove themselves."""
    admin, _ = await posted(request, "admin")
    name = request.path_params["name"]
    if name == admin.name:
        raise HTTPException(409, "you cannot remove your own account; another admin can")
    await run_in_threadpool(lambda: user_admin.remove_user(web(request).accounts, name,
                                                           by=admin.name))
    return RedirectResponse("/users", 303)
