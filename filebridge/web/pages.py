"""The pages that only read: tiles, run history, one run, held runs, files, check, activity.

Each is a thin handler over a library function (``daemon.status``,
``pipeline.overview``, ``config.check``); reads use the ledger's read-only
transactions, so they never queue behind a running import.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from filebridge.config import check as check_config
from filebridge.daemon import status
from filebridge.ledger.queries import RunFilter
from filebridge.ledger.schema import RUN_KINDS, RUN_STATES
from filebridge.pipeline.overview import RunView, history_page, nights, run_view
from filebridge.pipeline.person import person_timeline
from filebridge.web.auth import LOGIN_COOKIE, login_csrf, sign, unsign
from filebridge.web.chart import night_chart
from filebridge.web.rendering import render, require, web

PER_PAGE = 50


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    # Browsers drop tabs and newlines inside URLs: "/\t/evil.example" would become "//...".
    if any(c.isspace() or ord(c) < 32 for c in target):
        return "/"
    return target


def login_form(request: Request, message: str = "", status_code: int = 200) -> Response:
    """The login page with a fresh CSRF token bound to a cookie."""
    app = web(request)
    # An open login form keeps its nonce: a second tab or a stray request (a favicon)
    # must not invalidate the token of the form already on screen.
    nonce = unsign(app.secret, request.cookies.get(LOGIN_COOKIE)) or secrets.token_urlsafe(24)
    response = render(request, "login.html", {
        "login_csrf": login_csrf(app.secret, nonce), "message": message,
        "next": safe_next(request.query_params.get("next") or
                          getattr(request.state, "next", None))}, status_code)
    response.set_cookie(LOGIN_COOKIE, sign(app.secret, nonce), httponly=True, samesite="lax",
                        secure=app.cookie_secure(request), path="/login")
    return response


def login_page(request: Request) -> Response:
    """GET /login."""
    return login_form(request)


def _error_at(connection: dict[str, Any]) -> str | None:
    """When the last import attempt failed (for a tile in error)."""
    failed = next((t for t in connection["tasks"] if t["task"] == "import" and t["error"]),
                  None)
    return failed["finished_at"] if failed else None


def tiles(request: Request) -> Response:
    """GET /: one tile per connection, the daemon's state, held runs and alerts."""
    app = web(request)
    report = status(app.ctx, app.schedules).to_dict()
    for c in report["connections"]:
        c["error_at"] = _error_at(c) if c["status"] != "connected" else None
    return render(request, "tiles.html", {"report": report})


def _day(text: str | None, field: str, problems: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        problems.append(f"{field}: {text!r} is not a date (YYYY-MM-DD)")
        return None


def history(request: Request) -> Response:
    """GET /runs: runs with filters (connection, state, kind, dates) and paging."""
    app = web(request)
    q = request.query_params
    problems: list[str] = []
    until = _day(q.get("until"), "until", problems)
    where = RunFilter(
        connection=q.get("connection") or None,
        state=q.get("state") if q.get("state") in RUN_STATES else None,
        kind=q.get("kind") if q.get("kind") in RUN_KINDS else None,
        since=_day(q.get("since"), "since", problems),
        until=until + timedelta(days=1) if until else None)
    page_no = int(q["page"]) if q.get("page", "").isdigit() else 1
    page = history_page(app.ctx, where, page_no, PER_PAGE)
    keep = {k: v for k, v in q.items() if k != "page" and v}
    return render(request, "history.html", {
        "page": page, "filters": keep, "problems": problems, "states": RUN_STATES,
        "kinds": RUN_KINDS, "connections": sorted(app.ctx.settings.connections)})


def run(request: Request) -> Response:
    """GET /runs/N: the plan (old → new), holds, rejected rows, downloads, who acted."""
    app = web(request)
    run_id = int(request.path_params["run_id"])
    view = run_view(app.ctx, run_id)
    return render(request, "run.html", {"view": view, "d": view.detail, "r": view.report,
                                        "actions": app.accounts.actions(run_id=run_id)})


def _run_download(request: Request, pick: Callable[[RunView], Path | None], what: str,
                  media_type: str, suffix: str) -> Response:
    """One of a run's files (``pick`` of its view) as ``run-N-<suffix>``; 404 without it."""
    run_id = int(request.path_params["run_id"])
    path = pick(run_view(web(request).ctx, run_id))
    if path is None:
        raise HTTPException(404, f"run {run_id} has no {what}")
    return FileResponse(path, media_type=media_type, filename=f"run-{run_id}-{suffix}")


def rejects_csv(request: Request) -> Response:
    """GET /runs/N/rejects.csv: the run's reject file (only from its reports folder)."""
    return _run_download(request, lambda view: view.reject_file, "reject file",
                         "text/csv; charset=utf-8", "rejects.csv")


def changes_csv(request: Request) -> Response:
    """GET /runs/N/changes.csv: the run's change list (what it changed or would change)."""
    return _run_download(request, lambda view: view.change_log, "change list",
                         "text/csv; charset=utf-8", "changes.csv")


def log_jsonl(request: Request) -> Response:
    """GET /runs/N/log.jsonl: the run's log lines, one JSON object per line."""
    return _run_download(request, lambda view: view.run_log, "log",
                         "application/jsonl; charset=utf-8", "log.jsonl")


def report_json(request: Request) -> Response:
    """GET /runs/N/report.json: the ``show --json`` document of the run."""
    run_id = int(request.path_params["run_id"])
    detail = run_view(web(request).ctx, run_id).detail
    body = json.dumps(detail, indent=2, default=str, ensure_ascii=False)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}-report.json"'})


def held(request: Request) -> Response:
    """GET /held: every held run, with Review approval and Discard."""
    app = web(request)
    report = status(app.ctx, app.schedules).to_dict()
    rows = [{**h, "connection": c["name"]} for c in report["connections"]
            for h in c["held_runs"]]
    return render(request, "held.html", {"rows": rows})


def files(request: Request) -> Response:
    """GET /files: files the ledger knows, newest first, each with Replay."""
    app = web(request)
    connection = request.query_params.get("connection") or None
    return render(request, "files.html", {
        "files": app.ctx.ledger.files(connection, limit=200), "connection": connection,
        "connections": sorted(app.ctx.settings.connections)})


def chart(request: Request) -> Response:
    """GET /connections/NAME/chart.svg: people and changes per night, as SVG."""
    app = web(request)
    name = request.path_params["name"]
    app.ctx.connection(name)  # an unknown name is a 404 with the configured ones
    return Response(night_chart(name, nights(app.ctx, name, days=30)),
                    media_type="image/svg+xml")


def check(request: Request) -> Response:
    """GET /check: what ``filebridge check`` says about the configuration."""
    app = web(request)
    problems = check_config(app.settings_path)
    return render(request, "check.html", {"problems": [p.render() for p in problems],
                                          "settings": str(app.settings_path)})


def person(request: Request) -> Response:
    """GET /people?connection=NAME&q=QUERY: one person's state and timeline (the same
    answer as ``filebridge person``), or the search box."""
    app = web(request)
    names = sorted(app.ctx.settings.connections)
    connection = request.query_params.get("connection") or (names[0] if names else "")
    query = (request.query_params.get("q") or "").strip()
    answer = person_timeline(app.ctx, connection, query).to_dict() if query else None
    return render(request, "person.html", {"a": answer, "connection": connection,
                                           "query": query, "connections": names})


def activity(request: Request) -> Response:
    """GET /activity: who did what on these pages, newest first."""
    return render(request, "activity.html",
                  {"actions": web(request).accounts.actions(limit=200)})


def users(request: Request) -> Response:
    """GET /users (admin): the people who may log in, and forms to manage them."""
    require(request, "admin")
    return render(request, "users.html", {"users": web(request).accounts.users(),
                                          "roles": ("viewer", "support", "admin")})
