"""The core promise as a Hypothesis state machine: snapshot nights, deltas, held runs
approved, undo, and old files replayed after newer ones.

After every successful import a second plan of the same file is empty, and people not
managed by the connection are never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from filebridge.lms.schema import users
from filebridge.pipeline.context import open_context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.pipeline.lifecycle import approve, discard, undo
from tests.pipeline.conftest import write_workspace
from tests.pipeline.files import write_rows

# Shrinking a failing run of real imports can take minutes; FB_SHRINK=1 turns it on.
PHASES = tuple(Phase) if os.environ.get("FB_SHRINK") else (
    Phase.explicit, Phase.reuse, Phase.generate)
HEADER = ["Employee ID", "Work Email", "First Name", "Last Name", "Job Title", "Department",
          "Dept Code", "Location", "Country", "Phone", "Type", "Manager ID", "Hire Date",
          "Termination Date", "Status", "Cost Center"]
DEPTS = [("ENG", "Engineering"), ("SAL", "Sales"), ("HR", "People")]
TITLES = ["Engineer", "Lead", "Rep"]
BLOCK = ("    thresholds: {deactivate: {percent: null, count: 3}, rejected_percent: 50,\n"
         "                 row_drop_percent: null}\n")


def _row(i: int, dept: int = 0, title: int = 0, status: str = "A") -> dict[str, str]:
    code, name = DEPTS[dept]
    return {"Employee ID": f"{i:06d}", "Work Email": f"p{i}@acme.example", "First Name": "P",
            "Last Name": f"N{i}", "Job Title": TITLES[title], "Department": name,
            "Dept Code": code, "Location": "Berlin", "Country": "DE", "Phone": "", "Type": "FT",
            "Manager ID": "", "Hire Date": "01/01/2020", "Termination Date": "",
            "Status": status, "Cost Center": ""}


edits = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 2), st.integers(0, 2),
                           st.sampled_from(["A", "A", "A", "T", "gone"])), max_size=6)


class LifecycleMachine(RuleBasedStateMachine):
    """One connection, a dozen people, one unmanaged LMS user, nights in order."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="fb-machine-"))
        settings_path = write_workspace(self.root, thresholds=BLOCK)
        # The sample mapping dates files from their names, so old files are stale.
        _dated((self.root / "mappings" / "acme.yaml").read_text(encoding="utf-8"))
        self.ctx = open_context(settings_path)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        with self.ctx.store.engine.begin() as tx:
            tx.execute(users.insert().values(managed_by=None, employee_id="000003",
                                             email="someone@lms.example", first_name="Hand",
                                             created_at=now, updated_at=now))
        self.people = {i: _row(i) for i in range(8)}
        self.day = 0
        self.files: list[Path] = []
        self.applied: list[int] = []

    def teardown(self) -> None:
        self.ctx.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _file(self, rows: list[dict[str, str]], kind: str = "employees") -> Path:
        self.day += 1
        path = self.root / f"acme_{kind}_2026-01-{self.day:02d}.csv"
        return write_rows(path, rows, HEADER)

    def _import(self, path: Path, replay: bool = False) -> None:
        report = run_import(self.ctx, "acme", path, RunOptions("apply", replay=replay))
        if report.state == "duplicate":  # same content as an applied file: replay on purpose
            report = run_import(self.ctx, "acme", path, RunOptions("apply", replay=True))
        if report.state == "held":
            codes = {h.code for h in report.holds}
            assert codes <= {"too-many-deactivate", "too-many-delete"}, report.holds
            report = approve(self.ctx, report.run_id)
        assert report.state == "applied", (report.state, report.problems)
        self.applied.append(report.run_id)
        again = run_import(self.ctx, "acme", path, RunOptions("plan", replay=True))
        assert not again.holds or again.holds[0].code != "stale-file"
        for key in ("create", "update", "deactivate", "reactivate", "delete"):
            assert again.counts[key] == 0, (key, again.plan)
        assert again.plan.org == () and again.plan.rekeys == ()

    @rule(changes=edits)
    def snapshot_night(self, changes: list[tuple[int, int, int, str]]) -> None:
        for i, dept, title, status in changes:
            if status == "gone":
                self.people.pop(i, None)
            else:
                self.people[i] = _row(i, dept, title, status)
        path = self._file(list(self.people.values()))
        self.files.append(path)
        self._import(path)

    @rule(changes=edits)
    def delta_file(self, changes: list[tuple[int, int, int, str]]) -> None:
        rows = {i: _row(i, d, t, "A" if s == "gone" else s) for i, d, t, s in changes}
        if not rows:
            return
        self.people.update(rows)
        self._import(self._file(list(rows.values()), kind="delta"))

    @precondition(lambda self: bool(self.applied))
    @rule()
    def undo_last(self) -> None:
        report = undo(self.ctx, self.applied[-1])
        if report.state == "held":  # an undo goes through the brakes; approving applies it
            assert {h.code for h in report.holds} <= {"too-many-deactivate",
                                                          "too-many-delete"}, report.holds
            report = approve(self.ctx, report.run_id)
        assert report.state == "applied"
        self.applied.append(report.run_id)
        # The HR system still says what it said: replaying its last file brings it back
        # (the same content dropped again would be a duplicate, applied once).
        path = self._file(list(self.people.values()))
        self.files.append(path)
        self._import(path, replay=True)

    @precondition(lambda self: len(self.files) >= 2)
    @rule(data=st.data())
    def replay_old_file(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from(self.files[:-1]))
        copy = self.root / "replayed" / old.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(old.read_bytes() + b"\r\n")  # new content, old date
        report = run_import(self.ctx, "acme", copy, RunOptions("apply"))
        if report.plan is not None and report.state == "held":
            assert "stale-file" in {h.code for h in report.holds}
            discard(self.ctx, report.run_id)
        else:
            assert report.state in ("applied", "duplicate"), report.state

    @invariant()
    def unmanaged_people_are_untouched(self) -> None:
        with self.ctx.store.engine.connect() as conn:
            rows = conn.execute(sa.select(users.c.employee_id, users.c.first_name,
                                          users.c.active).where(users.c.managed_by.is_(None)))
            assert [tuple(r) for r in rows] == [("000003", "Hand", True)]


# Few, short examples keep the suite fast; HYPOTHESIS_PROFILE=deterministic or a local
# edit of max_examples explores more.
LifecycleMachine.TestCase.settings = settings(
    max_examples=5, stateful_step_count=5, deadline=None, phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestLifecycle = LifecycleMachine.TestCase


def _dated(text: str) -> str:
    """The sample mapping already declares export_time (from the file name); keep it."""
    assert "export_time:" in text
    return text
