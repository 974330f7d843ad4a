"""Completions read back from a real Moodle, through both sources (web services and a
read-only query on Moodle's database), end to end through ``filebridge export``.

Moodle itself makes the completions: courses with a self-completion criterion, people
enrolled by the manual plugin, criteria met at chosen times, and Moodle's own cron task
aggregating them into course completions. The exports are checked row by row, across
runs: a completion sharing the watermark's second and one Moodle aggregated late (its
time before the watermark) are each delivered once, nothing is delivered twice, and
accounts the connection does not manage never go out.
"""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.lms.moodle.courses import prepare, reset_courses
from tests.lms.moodle.test_end_to_end import filebridge, on_moodle
from tests.moodlesite import MoodleSite
from tests.pipeline.conftest import NIGHT1
from tests.pipeline.export_fixtures import export_workspace
from tests.pipeline.test_crash import run

pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]

MAPPING = """
kind: export
version: 1
format: {type: csv, encoding: utf-8, delimiter: ",", line_ending: lf}
file_name: "moodle_{seq:04d}.csv"
timezone: UTC
columns:
  - {header: Employee ID, field: person.employee_id}
  - {header: Email, field: person.email}
  - {header: Course, field: course.code}
  - {header: Title, field: course.title}
  - {header: Status, field: status}
  - {header: Completed, field: completed_at, date_format: "%Y-%m-%d %H:%M:%S"}
  - {header: Type, field: record_type}
"""
DB_ENV = "FILEBRIDGE_TEST_MOODLE_DB_PASSWORD"
READER = "filebridge_reader"
T1 = 1_763_000_000  # 2025-11-13 02:13:20 UTC
T2 = T1 + 100


def read_only_user(site: MoodleSite) -> None:
    """A PostgreSQL role that may read exactly the three tables the query needs (made by
    the cluster's superuser over its private socket)."""
    import psycopg
    socket_dir = site.moodle_dir.parent / "pg" / "run"
    with psycopg.connect(f"host={socket_dir} port={site.pg_port} user=postgres "
                         "dbname=moodle", autocommit=True) as conn:
        conn.execute(f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                     f"'{READER}') THEN CREATE ROLE {READER} LOGIN PASSWORD 'reader-pw'; "
                     "END IF; END $$")
        conn.execute(f"GRANT SELECT ON mdl_course_completions, mdl_user, mdl_course "
                     f"TO {READER}")


def completions_block(site: MoodleSite, source: str, **extra: Any) -> str:
    """The ``completions`` key of the acme lms block (flow YAML)."""
    if source == "database":
        items = {"source": "database", "password": f"${{env:{DB_ENV}}}",
                 "url": f"postgresql://{READER}@127.0.0.1:{site.pg_port}/moodle", **extra}
    else:
        items = {"source": "rest", **extra}
    return ", completions: {" + ", ".join(f"{k}: '{v}'" for k, v in items.items()) + "}"


def workspace(tmp_path: Path, site: MoodleSite, source: str, **extra: Any) -> Path:
    """An export workspace whose acme connection feeds ``site`` and reads its completions
    by ``source``; night 1 applied (Moodle has acme's people)."""
    settings = on_moodle(export_workspace(tmp_path / "ws", MAPPING), site,
                         completions_block(site, source, **extra))
    applied = filebridge(settings, "apply", "acme", str(NIGHT1), "--json")
    assert json.loads(applied.stdout)["state"] == "applied", applied.stderr
    return settings


def export(settings: Path) -> tuple[int, dict[str, Any], list[str]]:
    """``filebridge export acme``: exit code, JSON report, the delivered rows."""
    done = filebridge(settings, "export", "acme", "--json", **{DB_ENV: "reader-pw"})
    report = json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}
    rows: list[str] = []
    for f in report.get("files", []):
        rows += (settings.parent / "outbox" / f["name"]).read_text(
            encoding="utf-8").splitlines()[1:]
    return done.returncode, report, rows


def course(tag: str, code: str, title: str, completion: int = 1) -> dict[str, Any]:
    return {"shortname": f"{code}-{tag}", "fullname": title, "idnumber": f"ID-{code}-{tag}",
            "completion": completion}


def row(eid: str, email: str, code: str, title: str, when: int, kind: str = "new") -> str:
    from datetime import UTC, datetime
    at = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{eid},{email},{code},{title},completed,{at},{kind}"


@pytest.mark.parametrize("source", ["database", "rest"])
def test_completions_from_moodle_are_exported_once(moodle: MoodleSite, tmp_path: Path,
                                                   source: str) -> None:
    reset_courses(moodle)
    read_only_user(moodle)
    settings = workspace(tmp_path, moodle, source)
    tag = uuid.uuid4().hex[:6]
    sec, gdpr = f"SEC-{tag}", f"GDPR-{tag}"
    prepare(moodle, users=[(f"hand{tag}", f"X{tag}", f"hand{tag}@example.com")],
            courses=[course(tag, "SEC", "Security Awareness"),
                     course(tag, "GDPR", "Data Protection"),
                     course(tag, "OFF", "No tracking", completion=0)],
            enrol=[(sec, "001001"), (sec, "001002"), (sec, "001003"), (gdpr, "001001"),
                   (gdpr, "001002"), (sec, f"X{tag}")],
            complete=[(sec, "001001", T1), (sec, "001002", T2), (gdpr, "001001", T2),
                      (sec, f"X{tag}", T1)])
    tomas, priya = "tomas.nowak1@acme.example", "priya.silva2@acme.example"
    code, first, rows = export(settings)
    assert (code, first["state"]) == (0, "delivered"), first
    # The account made by hand in Moodle completed too: never exported.
    assert sorted(rows) == sorted([
        row("001001", tomas, sec, "Security Awareness", T1),
        row("001002", priya, sec, "Security Awareness", T2),
        row("001001", tomas, gdpr, "Data Protection", T2)])
    assert first["watermark_after"] == T2

    # One completion in the watermark's own second, one Moodle aggregated late (its time
    # an hour before the watermark): both go out, once; nothing else goes again.
    prepare(moodle, complete=[(sec, "001003", T2), (gdpr, "001002", T1 - 3600)])
    code, second, rows = export(settings)
    assert (code, second["state"]) == (0, "delivered"), second
    assert sorted(rows) == sorted([
        row("001003", "sofia.jansen3@acme.example", sec, "Security Awareness", T2),
        row("001002", priya, gdpr, "Data Protection", T1 - 3600)])
    assert second["watermark_after"] == T2
    code, third, rows = export(settings)
    assert (code, third["state"], rows) == (0, "noop", [])


def test_rest_source_names_a_function_missing_from_the_service(moodle: MoodleSite,
                                                               tmp_path: Path) -> None:
    settings = workspace(tmp_path, moodle, "rest")
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("token: '${env:FILEBRIDGE_TEST_MOODLE_TOKEN}'",
                                     "token: '${env:LIMITED_TOKEN}'"), encoding="utf-8")
    done = filebridge(settings, "export", "acme", "--json", LIMITED_TOKEN=moodle.limited_token)
    report = json.loads(done.stdout)
    assert done.returncode == 2
    assert report["error"]["code"] == "moodle-access-denied"
    assert "core_course_get_courses_by_field" in report["error"]["message"]


def test_database_source_with_another_prefix_says_which(moodle: MoodleSite,
                                                        tmp_path: Path) -> None:
    read_only_user(moodle)
    settings = workspace(tmp_path, moodle, "database", table_prefix="mdx_")
    code, report, rows = export(settings)
    assert (code, rows) == (2, [])
    assert report["error"]["code"] == "moodle-database-refused"
    assert "mdx_" in report["error"]["message"]


def test_kill_between_delivery_and_watermark_sends_each_completion_once(
        moodle: MoodleSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reset_courses(moodle)
    read_only_user(moodle)
    monkeypatch.setenv(DB_ENV, "reader-pw")
    settings = workspace(tmp_path, moodle, "database")
    tag = uuid.uuid4().hex[:6]
    sec = f"SEC-{tag}"
    people = ["001001", "001002", "001003", "001004"]
    prepare(moodle, courses=[course(tag, "SEC", "Security Awareness")],
            enrol=[(sec, p) for p in people],
            complete=[(sec, p, T1 + i) for i, p in enumerate(people[:2])])
    # Delivered, then killed before the watermark moved.
    assert run(settings, "export", "acme", failpoint="after-upload-before-watermark:kill") \
        == -signal.SIGKILL
    # More completions meanwhile, one in the same second as the last one delivered.
    prepare(moodle, complete=[(sec, "001003", T1 + 1), (sec, "001004", T1 + 5)])
    assert run(settings, "export", "acme") == 0
    assert run(settings, "export", "acme") == 0
    outbox = settings.parent / "outbox"
    files = sorted(p.name for p in outbox.glob("[!.]*"))
    assert files == ["moodle_0001.csv", "moodle_0002.csv"]
    sent = [line.split(",")[0] for f in files
            for line in (outbox / f).read_text(encoding="utf-8").splitlines()[1:]]
    assert sorted(sent) == people  # each completion exactly once, across both files
