"""Notifications against a real SMTP server (aiosmtpd) and a real local HTTP server."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from filebridge.daemon.notify import Notifications, notifying
from tests.daemon.conftest import Hook, Inbox

SUMMARY: dict[str, Any] = {
    "connection": "acme", "task": "import", "trigger": "schedule", "task_run_id": 7,
    "host": "h:1", "started_at": "2026-11-25T22:00:00+00:00", "exit_code": 1,
    "report": {"files": [{"name": "acme_1.csv", "state": "held", "run_id": 42,
                          "counts": {"deactivate": 812}}], "errors": []},
}


def email_config(port: int, **over: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "none",
            "from": "filebridge@example.com", "to": ["hr-it@example.com"], **over}


def test_email_and_webhook_get_a_held_run(smtp_server: tuple[int, Inbox],
                                          http_server: tuple[str, Hook],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (port, inbox), (url, hook) = smtp_server, http_server
    monkeypatch.setenv("FB_TEST_TOKEN", "s3cret-token")
    notes = Notifications({
        "email": email_config(port),
        "webhook": {"url": url, "headers": {"Authorization": "${env:FB_TEST_TOKEN}"}},
    })
    assert notes.send({**SUMMARY, "event": "held"}) == []
    [mail] = inbox.messages
    assert mail["Subject"] == "[filebridge] acme import: held"
    assert inbox.envelopes == [("filebridge@example.com", ["hr-it@example.com"])]
    text = mail.get_payload()
    assert "acme_1.csv: held (run 42)" in text and "filebridge show 42" in text
    [(path, headers, body)] = hook.posts
    assert path == "/hook" and headers["Authorization"] == "s3cret-token"
    assert body["event"] == "held" and body["report"]["files"][0]["run_id"] == 42


def test_events_choose_what_is_sent(smtp_server: tuple[int, Inbox],
                                    http_server: tuple[str, Hook]) -> None:
    (port, inbox), (url, hook) = smtp_server, http_server
    notes = Notifications({"email": email_config(port, events=["failed", "missing-file"]),
                           "webhook": {"url": url}})
    for event in ("start", "idle", "success", "missing-file"):
        notes.send({**SUMMARY, "event": event})
    assert [m["Subject"].rsplit(" ", 1)[-1] for m in inbox.messages] == ["missing-file"]
    # The webhook's default: every outcome, not the start and not "nothing to do".
    assert [b["event"] for _, _, b in hook.posts] == ["success", "missing-file"]


def test_a_failure_with_a_retry_pending_is_not_sent(http_server: tuple[str, Hook]) -> None:
    url, hook = http_server
    notes = Notifications({"webhook": {"url": url}})
    notes.send({**SUMMARY, "event": "failed", "retry_in_seconds": 60.0})
    notes.send({**SUMMARY, "event": "failed", "retry_in_seconds": None})
    assert len(hook.posts) == 1


def test_a_failed_notification_never_hides_the_run(http_server: tuple[str, Hook],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    url, hook = http_server
    hook.status = 500
    # An SMTP port nobody listens on, and a webhook answering 500.
    notes = Notifications({"email": email_config(1, timeout_seconds=2),
                           "webhook": {"url": url + "?token=hidden"}})
    summary = dict(SUMMARY)
    with caplog.at_level(logging.INFO), notifying(notes, summary):
        summary["event"] = "success"
    assert len(hook.posts) == 1  # it was tried, refused, and the block still completed
    assert "hidden" not in caplog.text
    assert "notification by webhook failed (HTTPError)" in caplog.text


def test_an_exception_is_notified_and_re_raised(http_server: tuple[str, Hook]) -> None:
    url, hook = http_server
    notes = Notifications({"webhook": {"url": url}})
    with pytest.raises(RuntimeError, match="boom"), notifying(notes, dict(SUMMARY)):
        raise RuntimeError("boom")
    [(_, _, body)] = hook.posts
    assert body["event"] == "failed" and body["error"]["message"] == "boom"


def test_smtp_password_comes_from_the_environment(smtp_server: tuple[int, Inbox],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    port, _inbox = smtp_server
    monkeypatch.delenv("FB_TEST_SMTP_PASSWORD", raising=False)
    notes = Notifications({"email": email_config(port, username="fb",
                                                 password="${env:FB_TEST_SMTP_PASSWORD}")})
    # Unset variable: the notification fails (logged), naming nothing secret; no crash.
    assert notes.send({**SUMMARY, "event": "failed"}) == ["email"]


def test_webhook_only_posts_http() -> None:
    notes = Notifications({"webhook": {"url": "file:///etc/passwd"}})
    assert notes.send({**SUMMARY, "event": "failed"}) == ["webhook"]


def test_events_are_the_same_in_python_and_the_schema() -> None:
    import typing

    from filebridge.config.validate import load_schemas
    from filebridge.daemon.notify import EVENTS, Event

    notifications = load_schemas()["settings.schema.json"]["properties"]["notifications"]
    for channel in ("email", "webhook"):
        events = notifications["properties"][channel]["properties"]["events"]
        assert events["items"]["enum"] == list(typing.get_args(Event)) == list(EVENTS)
