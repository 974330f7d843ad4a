"""The admin pages keep people out who should be out: sessions on every route, CSRF on
every POST, roles, cookie flags, slowed-down guessing, no traversal, escaped HR values."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.routing import Route

from filebridge.ledger.schema import runs
from filebridge.pipeline.context import open_context
from filebridge.web.app import PUBLIC_PATHS, routes
from filebridge.web.auth import FREE_FAILURES, SESSION_COOKIE, delay_after, throttle_keys
from filebridge.web.auth import log_in as log_in_user
from tests.web.conftest import (
    FORMULA_EMAIL,
    PASSWORD,
    SCRIPT_NAME,
    Site,
    client_of,
    csrf_of,
    log_in,
)


def _app_routes(site: Site) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app except the public ones."""
    values = {"run_id": str(site.held_run), "file_id": str(site.held_file), "name": "acme"}
    found = []
    for route in routes():
        if not isinstance(route, Route) or route.path in PUBLIC_PATHS:
            continue
        path = route.path
        for key, value in values.items():
            path = path.replace(f"{{{key}:int}}", value).replace(f"{{{key}}}", value)
        assert "{" not in path, f"no test value for a parameter of {route.path}"
        found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


def test_every_route_without_a_session_redirects_to_login(site, client):
    walked = _app_routes(site)
    assert len(walked) >= 20  # the whole table, not a sample
    for method, path in walked:
        for cookies in ({}, {SESSION_COOKIE: "forged.0123"}):
            client.cookies.clear()
            client.cookies.update(cookies)
            response = client.request(method, path, follow_redirects=False)
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)
    with client_of(site) as fresh:
        assert fresh.get("/static/style.css").status_code == 200  # assets are public


def test_every_post_needs_the_sessions_csrf_token(site, client):
    token = log_in(client, "ann")
    posts = [path for method, path in _app_routes(site) if method == "POST"]
    assert f"/runs/{site.held_run}/approve" in posts and "/users" in posts
    for path in posts:
        for data in ({}, {"csrf": "not-the-token"}, {"csrf": token[:-1] + "x"}):
            response = client.post(path, data={**data, "step": "plan", "name": "x",
                                               "role": "viewer", "password": "long enough 1"})
            assert response.status_code == 403, (path, data, response.status_code)
            assert "security token" in response.text
    ctx = open_context(site.settings)
    try:
        assert ctx.ledger.get_run(site.held_run).state == "held"  # nothing happened
    finally:
        ctx.close()
    assert client.get("/").status_code == 200  # still logged in: logout needed the token too


def test_login_form_needs_its_own_token(client):
    response = client.post("/login", data={"name": "ann", "password": PASSWORD})
    assert response.status_code == 403
    client.get("/login")
    response = client.post("/login", data={"csrf": "guess", "name": "ann", "password": PASSWORD})
    assert response.status_code == 403


def test_roles_viewer_reads_support_acts_admin_manages(site):
    with client_of(site) as viewer:
        token = log_in(viewer, "val")
        assert viewer.get(f"/runs/{site.held_run}").status_code == 200
        assert "Review approval" not in viewer.get(f"/runs/{site.held_run}").text
        for path in (f"/runs/{site.held_run}/approve", f"/runs/{site.held_run}/discard",
                     f"/files/{site.held_file}/replay", "/connections/acme/sync"):
            response = viewer.post(path, data={"csrf": token, "step": "plan"})
            assert response.status_code == 403, path
            assert "needs the support role" in response.text
        assert viewer.get("/users").status_code == 403
    with client_of(site) as support:
        token = log_in(support, "sam")
        assert support.get("/users").status_code == 403
        response = support.post("/users", data={"csrf": token, "name": "eve", "role": "admin",
                                                "password": "long enough 1"})
        assert response.status_code == 403 and "needs the admin role" in response.text


def test_session_cookie_flags(site):
    with client_of(site) as plain:
        page = plain.get("/login")
        done = plain.post("/login", data={"csrf": csrf_of(page.text), "name": "val",
                                          "password": PASSWORD}, follow_redirects=False)
        cookie = done.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie and "Path=/" in cookie and "Max-Age=28800" in cookie
        assert "Secure" not in cookie  # plain http on 127.0.0.1 would lose it otherwise
    with client_of(site) as https:
        https.base_url = "https://testserver"  # type: ignore[assignment]
        page = https.get("https://testserver/login")
        done = https.post("https://testserver/login", data={
            "csrf": csrf_of(page.text), "name": "val", "password": PASSWORD},
            follow_redirects=False)
        assert "Secure" in done.headers["set-cookie"]
    with client_of(site, secure_cookies=True) as forced:
        page = forced.get("/login")
        assert "Secure" in page.headers["set-cookie"]  # the login form's cookie too


def test_security_headers_forbid_scripts_and_framing(client):
    headers = client.get("/login").headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"


def test_logout_ends_the_session_on_the_server(site):
    with client_of(site) as c:
        token = log_in(c, "val")
        stolen = c.cookies.get(SESSION_COOKIE)
        assert c.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
        c.cookies.set(SESSION_COOKIE, stolen)  # replaying the old cookie does not work
        assert c.get("/", follow_redirects=False).status_code == 303


def test_sessions_expire(site):
    # Long enough that a loaded machine still gets its first page inside the session.
    with client_of(site, session_hours=6 / 3600) as c:
        log_in(c, "val")
        assert c.get("/", follow_redirects=False).status_code == 200
        time.sleep(6.5)
        c.cookies.set(SESSION_COOKIE, c.cookies.get(SESSION_COOKIE) or "")
        assert c.get("/", follow_redirects=False).status_code == 303


def test_failed_logins_are_slowed_per_user_and_per_address(fresh_site):
    def attempt(c, name: str, password: str):
        page = c.get("/login")
        return c.post("/login", data={"csrf": csrf_of(page.text), "name": name,
                                      "password": password}, follow_redirects=False)

    with client_of(fresh_site) as c:
        for _ in range(FREE_FAILURES):
            assert attempt(c, "val", "wrong password").status_code == 401
        # The same address trying another name waits too, and so does the right password.
        refused = attempt(c, "sam", PASSWORD)
        assert refused.status_code == 429 and "too many failed logins" in refused.text
        assert attempt(c, "val", PASSWORD).status_code == 429


def test_the_wait_grows_with_each_failure_and_ends(fresh_site):
    ctx = open_context(fresh_site.settings)
    try:
        accounts, start = ctx.ledger.web_accounts, datetime(2026, 1, 1, tzinfo=UTC)
        hour = timedelta(hours=1)
        for n in range(FREE_FAILURES + 2):
            result = log_in_user(accounts, "val", "wrong", "10.0.0.9", start, hour)
            assert result.token is None
            start += timedelta(seconds=delay_after(n + 1))  # wait out each delay exactly
        assert [delay_after(n) for n in range(1, 7)] == [0, 0, 5, 10, 20, 40]
        too_soon = log_in_user(accounts, "val", PASSWORD, "10.0.0.9",
                               start - timedelta(seconds=1), hour)
        assert too_soon.token is None and too_soon.wait_seconds == 1
        other_address = log_in_user(accounts, "val", PASSWORD, "10.0.0.8",
                                    start - timedelta(seconds=1), hour)
        assert other_address.token is None  # the user's own counter still applies
        later = log_in_user(accounts, "val", PASSWORD, "10.0.0.9", start, hour)
        assert later.token is not None and accounts.failures(throttle_keys("val", "10.0.0.9")) == {}
    finally:
        ctx.close()


def test_unknown_users_fail_like_wrong_passwords(client):
    page = client.get("/login")
    response = client.post("/login", data={"csrf": csrf_of(page.text), "name": "nobody",
                                           "password": PASSWORD})
    assert response.status_code == 401 and "wrong user name or password" in response.text


@pytest.mark.parametrize("path", [
    "/runs/..%2F..%2Fsettings.yaml/rejects.csv", "/runs/1/..%2F..%2F..%2Fsettings.yaml",
    "/static/../settings.yaml", "/static/..%2F..%2F..%2Fsettings.yaml",
    "/static/%2e%2e/%2e%2e/%2e%2e/settings.yaml", "/connections/..%2F..%2Fetc/chart.svg"])
def test_path_traversal_on_downloads_finds_nothing(site, client, path):
    log_in(client, "val")
    response = client.get(path, follow_redirects=False)
    assert response.status_code in (303, 404), response.status_code
    assert "state_dir" not in response.text and "root:" not in response.text


def test_a_reject_file_outside_the_reports_folder_is_never_served(site, client):
    ctx = open_context(site.settings)
    try:
        run_id = ctx.ledger.start_run("acme", "import", "plan", None, datetime.now(UTC))
        for target in (str(site.settings), "../../settings.yaml", "/etc/passwd"):
            ctx.ledger.finish_run(run_id, "planned", {}, {"reject_file": target}, None,
                                  datetime.now(UTC))
            log_in(client, "val")
            response = client.get(f"/runs/{run_id}/rejects.csv")
            assert response.status_code == 404, target
            assert "no reject file" in response.text
    finally:
        ctx.close()


def test_hostile_hr_values_are_escaped(site, client):
    log_in(client, "val")
    page = client.get(f"/runs/{site.applied_run}").text
    assert SCRIPT_NAME not in page and "<script" not in page
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    # The mapping lower-cases e-mails; the value is shown as text in the rejected rows.
    assert "<td>=hyperlink(&#34;http://evil.example&#34;,&#34;x&#34;)</td>" in page
    rejects = client.get(f"/runs/{site.applied_run}/rejects.csv")
    assert rejects.status_code == 200 and rejects.headers["content-type"].startswith("text/csv")
    # Served as a download, never rendered: the file keeps the source's bytes.
    assert FORMULA_EMAIL.replace('"', '""') in rejects.text
    assert "attachment" in rejects.headers["content-disposition"]


def test_an_unexpected_error_is_a_page_without_a_traceback(site, client):
    ctx = open_context(site.settings)
    try:
        with ctx.ledger.engine.begin() as tx:
            run_id = tx.scalar(sa.select(sa.func.max(runs.c.id)))
            tx.execute(runs.update().where(runs.c.id == run_id).values(report="{not json"))
    finally:
        ctx.close()
    log_in(client, "val")
    response = client.get(f"/runs/{run_id}")
    assert response.status_code == 500
    assert "unexpected error: JSONDecodeError" in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
