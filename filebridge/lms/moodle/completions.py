"""Course completions read from Moodle itself, for the export road.

Two sources give the same rows:

- ``rest``: the web services. ``core_course_get_courses_by_field`` lists the courses,
  ``core_enrol_get_enrolled_users`` each course's people, and
  ``core_completion_get_course_completion_status`` one person's status in one course.
  That is one call per managed person and course: enough for small sites. Moodle answers
  it only for active accounts, so suspended people (leavers) are not read.
- ``database``: one read-only query on Moodle's own database (``course_completions``
  joined to ``user`` and ``course``), for volume; leavers' completions are read too.

A completion's revision is its ``timecompleted`` (Unix seconds), so the export watermark
is a time. Moodle records a course completion when its cron aggregates the criteria,
stamped with the time the last criterion was met, which can lie before the watermark;
and several completions share a second. Both sources therefore read from ``lookback``
before the watermark, inclusively, and the export drops what it already delivered with
the same revision: nothing is lost at the boundary and nothing is sent twice. A course
completed again after a reset has a later time and goes out as an amendment.
Only the people the connection manages (its mirror, by Moodle user id) are exported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from filebridge.config.secrets import resolve_secret
from filebridge.lms.mirror import Mirror
from filebridge.lms.mirror_results import export_frame, no_assignments
from filebridge.lms.moodle.client import MoodleCallFailed, MoodleClient
from filebridge.lms.moodle.errors import MoodleDatabaseRefused, MoodleRejected
from filebridge.lms.moodle.target import CompletionsSource, MoodleTarget
from filebridge.sql import location, open_engine

REST_FUNCTIONS = ("core_course_get_courses_by_field", "core_enrol_get_enrolled_users",
                  "core_completion_get_course_completion_status")
# Refusals of one person's status that mean "nothing to read here", not a broken call:
# the account is suspended or gone, or left the course, or the course has no criteria.
_NOTHING_TO_READ = frozenset({"suspended", "userdeleted", "invaliduser", "usernotenroled",
                              "nocriteriaset", "usernotconfirmed"})


class MoodleCompletions:
    """The completions of one Moodle connection, read by its configured source."""

    def __init__(self, connection: str, target: MoodleTarget, client: MoodleClient | None,
                 mirror: Mirror, check_service: Any = None) -> None:
        self.connection = connection
        self.target = target
        self.source: CompletionsSource = target.completions
        self.client = client
        self.mirror = mirror
        self._check_service = check_service

    def completions_for_export(self, connection: str, *, after_revision: int | None = None,
                               completed_from: datetime | None = None,
                               completed_until: datetime | None = None) -> pd.DataFrame:
        """Completions after a watermark (less the lookback) or in a date range, oldest
        first, in the export's columns plus ``item`` (``moodle:COURSE_ID:USER_ID``)."""
        since = int(completed_from.timestamp()) if completed_from else 0
        if after_revision is not None:
            since = max(0, after_revision - int(self.source.lookback_hours * 3600))
        until = int(completed_until.timestamp()) if completed_until else None
        if self.source.source == "database":
            found = read_database(self.source, since, until)
        else:
            if self._check_service is not None:
                self._check_service(connection, functions=REST_FUNCTIONS)
            assert self.client is not None
            found = read_rest(self.client, self.source, self._managed_ids(connection),
                              since, until)
        return self._frame(connection, found)

    def overdue_assignments(self, connection: str, now: datetime, *,
                            due_from: datetime | None = None) -> pd.DataFrame:
        """Moodle's completions carry no due dates: never anything overdue."""
        return no_assignments()

    def _managed_ids(self, connection: str) -> set[int]:
        return {int(e.lms_id) for e in self.mirror.entries(connection).values()}

    def _frame(self, connection: str, found: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
        people = {int(e.lms_id): e for e in self.mirror.entries(connection).values()}
        rows, items = [], []
        for cid, userid, course_id, code, title, stamp in found:
            entry = people.get(int(userid))
            if entry is None:
                continue  # not a person this connection manages
            at = datetime.fromtimestamp(int(stamp), UTC)
            rows.append((cid, int(stamp), 1, entry.employee_id, entry.fields, code, title,
                         "completed", at, None, None, at))
            items.append(f"moodle:{course_id}:{userid}")
        frame = export_frame(rows)
        frame["completion_id"] = frame["completion_id"].astype("Int64")
        frame["item"] = pd.Series(items, dtype="object")
        return frame.sort_values(["revision", "item"], kind="stable").reset_index(drop=True)


def read_rest(client: MoodleClient, source: CompletionsSource, managed: set[int],
              since: int, until: int | None) -> list[tuple[Any, ...]]:
    """Completed courses of managed people, from the web services."""
    courses = client.call("core_course_get_courses_by_field") or {}
    out: list[tuple[Any, ...]] = []
    for course in courses.get("courses") or []:
        code = str(course.get(source.course_code) or "")
        if not int(course.get("enablecompletion") or 0) or not code:
            continue
        if source.courses is not None and code not in source.courses:
            continue
        enrolled = client.call("core_enrol_get_enrolled_users", {
            "courseid": course["id"], "options": [{"name": "userfields", "value": "id"}]})
        for user in enrolled or []:
            userid = int(user["id"])
            if userid not in managed:
                continue
            stamp = _completed_at(client, int(course["id"]), userid)
            if stamp is not None and stamp >= since and (until is None or stamp < until):
                out.append((None, userid, int(course["id"]), code,
                            str(course.get("fullname") or ""), stamp))
    return out


def _completed_at(client: MoodleClient, courseid: int, userid: int) -> int | None:
    """When ``userid`` completed ``courseid`` as Moodle aggregates it (the latest time of
    the criteria met), or None while it is not complete."""
    function = "core_completion_get_course_completion_status"
    try:
        answer = client.call(function, {"courseid": courseid, "userid": userid})
    except MoodleCallFailed as exc:
        if exc.errorcode in _NOTHING_TO_READ:
            return None
        raise MoodleRejected(client.target.url, function, exc.errorcode, exc.detail) from None
    status = (answer or {}).get("completionstatus") or {}
    if not status.get("completed"):
        return None
    times = [int(c.get("timecompleted") or 0) for c in status.get("completions") or []
             if c.get("complete")]
    return max(times) if times and max(times) > 0 else None


def database_url(url: str) -> str:
    """A ``postgresql://`` URL with the driver filebridge ships (psycopg 3)."""
    return ("postgresql+psycopg://" + url.removeprefix("postgresql://")
            if url.startswith("postgresql://") else url)


@contextmanager
def _read_only(source: CompletionsSource) -> Iterator[Connection]:
    assert source.url is not None
    password = resolve_secret(source.password) if source.password else None
    engine = open_engine(database_url(source.url), password=password)
    try:
        with engine.connect() as conn:
            conn.execution_options(postgresql_readonly=True)
            with conn.begin():
                # A deadline on the query itself, beside the engine's network deadlines.
                conn.exec_driver_sql(
                    f"SET LOCAL statement_timeout = {int(source.timeout_seconds * 1000)}")
                yield conn
    finally:
        engine.dispose()


def completions_query(prefix: str, until: bool) -> str:
    """The one query of the database source (``prefix`` checked by the schema)."""
    return (f"SELECT cc.id, cc.userid, c.id, c.shortname, c.idnumber, c.fullname, "
            f"cc.timecompleted, u.idnumber FROM {prefix}course_completions cc "
            f"JOIN {prefix}user u ON u.id = cc.userid "
            f"JOIN {prefix}course c ON c.id = cc.course "
            "WHERE cc.timecompleted IS NOT NULL AND cc.timecompleted >= :since "
            + ("AND cc.timecompleted < :until " if until else "")
            + "AND u.deleted = 0 ORDER BY cc.timecompleted, cc.id")


def read_database(source: CompletionsSource, since: int, until: int | None
                  ) -> list[tuple[Any, ...]]:
    """Completed courses since ``since`` from Moodle's database, in one query."""
    sql = sa.text(completions_query(source.table_prefix, until is not None))
    params: dict[str, int] = {"since": since, **({"until": until} if until else {})}
    try:
        with _read_only(source) as conn:
            rows = conn.execute(sql, params).all()
    except sa.exc.ProgrammingError as exc:
        first = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise MoodleDatabaseRefused(location(source.url or ""), source.table_prefix,
                                    first) from None
    out: list[tuple[Any, ...]] = []
    for cid, userid, course_id, shortname, idnumber, fullname, stamp, _ in rows:
        code = str((shortname if source.course_code == "shortname" else idnumber) or "")
        if not code or (source.courses is not None and code not in source.courses):
            continue
        out.append((int(cid), int(userid), int(course_id), code, str(fullname or ""),
                    int(stamp)))
    return out

