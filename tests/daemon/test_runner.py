"""The daemon in-process: due tasks, one failing connection beside a working one, deadlines,
holds, heartbeats and the connection lock around export and cleanup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from filebridge.config import load_settings
from filebridge.daemon import Daemon, load_schedules, status
from filebridge.daemon.heartbeat import Pulse
from filebridge.daemon.notify import Notifications
from filebridge.ledger.daemon_state import DaemonState
from filebridge.ledger.locks import connection_lock
from filebridge.pipeline.context import Context, open_context
from tests.conftest import _free_port
from tests.daemon.conftest import Hook, drop, workspace
from tests.pipeline.conftest import NIGHT1, XML1

NIGHTLY = ('connection: acme\ntasks:\n'
           '  - {task: import, cron: "0 22 * * *", timezone: Europe/Berlin}\n')
T = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def daemon(ctx: Context, clock: datetime | None = None, **kw: object) -> Daemon:
    schedules = load_schedules(ctx.settings)
    if clock is None:
        return Daemon(ctx, schedules, **kw)  # type: ignore[arg-type]
    return Daemon(ctx, schedules, clock=lambda: clock, **kw)  # type: ignore[arg-type]


@pytest.fixture
def ctx(tmp_path: Path):
    context = open_context(workspace(tmp_path / "ws", NIGHTLY +
                                     "  - {task: cleanup, cron: \"0 3 * * sun\"}\n"))
    yield context
    context.close()


def test_run_once_runs_due_tasks_once(ctx: Context) -> None:
    drop(ctx.settings.path, NIGHT1, "acme_employees_2026-11-24.csv")
    assert daemon(ctx).run_once() == 1  # night 1 has rejected rows
    assert len(ctx.store.users("acme")) == 194
    tasks = {t.task: t for t in DaemonState(ctx.ledger.engine).latest_tasks("acme")}
    assert (tasks["import"].outcome, tasks["cleanup"].outcome) == ("rejected", "idle")
    # Nothing is due any more: a second pass runs nothing (and records nothing).
    assert daemon(ctx).run_once() == 0
    assert [t.id for t in DaemonState(ctx.ledger.engine).latest_tasks("acme")] == \
        [t.id for t in tasks.values()]


def test_missed_nights_run_once_then_follow_the_schedule(ctx: Context) -> None:
    first = daemon(ctx, clock=T)
    assert [t for _, t, trig in first.due_tasks(T) if trig == "startup"] == ["import", "cleanup"]
    first.run_once()
    five_nights_later = T + timedelta(days=5)
    due = daemon(ctx).due_tasks(five_nights_later)
    assert ("acme", "import", "startup") in due and len(due) == 2  # import once, cleanup once


def test_a_connection_down_never_stops_the_other(tmp_path: Path,
                                                 http_server: tuple[str, Hook]) -> None:
    url, hook = http_server
    down = ('{type: sftp, host: 127.0.0.1, port: %s, username: nobody, known_hosts: kh, '
            'password: "${env:FB_NEVER_SET}", inbox: /in, pattern: "*.csv", '
            'timeouts: {connect: 2, banner: 2, auth: 2}}').replace("%s", str(_free_port()))
    settings = workspace(tmp_path / "ws", NIGHTLY, transport=down,
                         extra=f"notifications:\n  webhook: {{url: '{url}'}}\n")
    (settings.parent / "kh").write_text("")
    (settings.parent / "schedules" / "xml.yaml").write_text(
        'connection: acme-xml\ntasks: [{task: import, cron: "0 22 * * *"}]\n')
    drop(settings, XML1, "acme_employees_2026-11-24.xml", inbox="drop/xml")
    ctx = open_context(settings)
    try:
        assert daemon(ctx).run_once() == 3  # worst: a transport unavailable
        assert len(ctx.store.users("acme-xml")) > 0
        report = status(ctx, load_schedules(ctx.settings)).to_dict()
    finally:
        ctx.close()
    by_name = {c["name"]: c for c in report["connections"]}
    assert by_name["acme"]["status"] == "connection-error"
    assert "127.0.0.1" in by_name["acme"]["reason"]
    assert by_name["acme-xml"]["status"] == "connected"
    assert by_name["acme-xml"]["last_sync"]["file"] == "acme_employees_2026-11-24.xml"
    events = sorted((b["connection"], b["event"]) for _, _, b in hook.posts)
    assert events == [("acme", "failed"), ("acme-xml", "rejected")]  # some rows rejected


def test_missing_file_alert_until_a_file_arrives(tmp_path: Path,
                                                 http_server: tuple[str, Hook]) -> None:
    url, hook = http_server
    settings = workspace(tmp_path / "ws", NIGHTLY +
                         'expect_file_by: {time: "06:00", timezone: Europe/Berlin}\n',
                         extra=f"notifications:\n  webhook: {{url: '{url}'}}\n")
    (settings.parent / "drop" / "acme").mkdir(parents=True)
    ctx = open_context(settings)
    try:
        assert daemon(ctx, clock=T).run_once() == 1
        [alert] = status(ctx, load_schedules(ctx.settings), T).to_dict()["connections"][0]["alerts"]
        assert alert["deadline"] == "2026-11-25T05:00:00+00:00"
        acme = status(ctx, load_schedules(ctx.settings), T).to_dict()["connections"][0]
        assert acme["status"] == "error" and acme["reason"].startswith("no file arrived")
        # Checked again (a restart, a second daemon): one alert, one notification.
        assert daemon(ctx, clock=T).run_task("acme", "expect-file") == 0
        assert [b["event"] for _, _, b in hook.posts].count("missing-file") == 1
        drop(settings, NIGHT1, "acme_employees_2026-11-24.csv")
        daemon(ctx, clock=T + timedelta(hours=1)).run_task("acme", "import")
        acme = status(ctx, load_schedules(ctx.settings), T).to_dict()["connections"][0]
        assert (acme["status"], acme["alerts"]) == ("connected", [])
        assert DaemonState(ctx.ledger.engine).open_alerts("acme") == []
    finally:
        ctx.close()


def test_held_run_shows_in_status(ctx: Context) -> None:
    drop(ctx.settings.path, NIGHT1, "acme_employees_2026-11-24.csv")
    daemon(ctx).run_task("acme", "import")
    few = ctx.settings.base_dir / "few.csv"
    few.write_text("".join(NIGHT1.read_text(encoding="utf-8-sig").splitlines(True)[:6]),
                   encoding="utf-8")
    drop(ctx.settings.path, few, "acme_employees_2026-11-25.csv")
    assert daemon(ctx).run_task("acme", "import") == 1
    acme = status(ctx, load_schedules(ctx.settings)).to_dict()["connections"][0]
    [held] = acme["held_runs"]
    assert held["file"] == "acme_employees_2026-11-25.csv"
    assert acme["last_sync"]["file"] == "acme_employees_2026-11-24.csv"
    assert [t["outcome"] for t in acme["tasks"] if t["task"] == "import"] == ["held"]


def test_heartbeat_alive_then_gone(ctx: Context) -> None:
    schedules = load_schedules(ctx.settings)
    assert status(ctx, schedules).to_dict()["daemon"] == {"alive": False, "daemons": []}
    pulse = Pulse(DaemonState(ctx.ledger.engine), ["acme"], interval=1)
    pulse.start()
    try:
        [beat] = status(ctx, schedules).to_dict()["daemon"]["daemons"]
        assert beat["alive"] and beat["connections"] == ["acme"]
        later = datetime.now(UTC) + timedelta(seconds=60)
        assert status(ctx, schedules, later).to_dict()["daemon"]["alive"] is False  # stale
    finally:
        pulse.stop()
    assert status(ctx, schedules).to_dict()["daemon"]["daemons"] == []


def test_cleanup_waits_for_the_connection_lock(ctx: Context) -> None:
    with connection_lock(ctx.ledger.engine, "acme"):  # e.g. a manual `filebridge apply`
        assert daemon(ctx, lock_wait=0.3).run_task("acme", "cleanup") == 3
    [task] = DaemonState(ctx.ledger.engine).latest_tasks("acme")
    assert task.error is not None and task.error["code"] == "connection-busy"
    assert task.error["retry"] is True
    assert daemon(ctx).run_task("acme", "cleanup") == 0


def test_a_busy_connection_is_logged_as_info(ctx: Context, caplog) -> None:
    """Another daemon (or a manual run) holding a connection is how a shared database
    works: the daemon says so at INFO and retries; nothing at WARNING."""
    drop(ctx.settings.path, NIGHT1, "acme_employees_2026-11-24.csv")
    caplog.set_level("INFO")
    with connection_lock(ctx.ledger.engine, "acme"):
        assert daemon(ctx, lock_wait=0.3).run_task("acme", "import") == 3
    busy = [r for r in caplog.records if "is busy" in r.getMessage()]
    assert busy and {r.levelname for r in busy} == {"INFO"}
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_status_json_keys(ctx: Context) -> None:
    report = status(ctx, load_schedules(ctx.settings), T).to_dict()
    assert set(report) == {"now", "state_location", "daemon", "connections"}
    acme = report["connections"][0]
    assert set(acme) == {"name", "status", "status_text", "reason", "last_sync", "next_runs",
                         "held_runs", "alerts", "tasks", "lock", "lms"}
    assert acme["lms"] == {"type": "builtin", "location": ctx.store.location,
                           "reachable": None, "detail": ""}
    assert acme["status_text"] == "Never synced"
    assert acme["next_runs"][0] == {"task": "import", "at": "2026-11-25T22:00:00+01:00",
                                    "cron": "0 22 * * *", "timezone": "Europe/Berlin"}
    json.dumps(report)


def test_notifications_settings_are_validated(tmp_path: Path) -> None:
    from filebridge.config import ConfigError

    settings = workspace(tmp_path / "ws", NIGHTLY,
                         extra="notifications:\n  email: {host: x, from: a@b.c, to: [d@e.f], "
                               "password: plain-secret}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(settings)
    assert "notifications.email.password" in caught.value.render()
    Notifications({})  # no channel: nothing to send, nothing to fail
