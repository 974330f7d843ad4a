"""The export promise as a Hypothesis state machine: over any sequence of new results,
corrections and deliveries that fail before or after the upload, every completion is
delivered as ``new`` exactly once, and the last row sent for it carries its current values."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from filebridge.pipeline.context import open_context
from filebridge.pipeline.exporter import export_connection
from tests.pipeline.export_fixtures import NOW, export_workspace, load_people, record
from tests.pipeline.test_export import FlakyTransport

PEOPLE = [f"{1000 + i:06d}" for i in range(8)]
COURSES = ["SEC-101", "GDPR-1", "FIRE-2"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with night 1 applied, copied for every example (fast, isolated)."""
    root = tmp_path_factory.mktemp("template")
    ctx = open_context(export_workspace(root / "ws"))
    load_people(ctx)
    ctx.close()
    return root / "ws"


class ExportMachine(RuleBasedStateMachine):
    """Results and corrections arrive; exports succeed, fail before or after the upload."""

    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="export-machine-"))
        shutil.copytree(self.template, self.dir / "ws")
        self.ctx = open_context(self.dir / "ws" / "settings.yaml")
        self.current: dict[tuple[str, str], float] = {}

    @rule(person=st.sampled_from(PEOPLE), course=st.sampled_from(COURSES),
          score=st.integers(0, 100))
    def result_or_correction(self, person: str, course: str, score: int) -> None:
        record(self.ctx, [(person, course, "", "passed", "2026-11-20T10:00:00+00:00",
                           float(score))])
        self.current[(person, course)] = float(score)

    @rule(fail=st.sampled_from([None, None, "before", "after"]))
    def export(self, fail: str | None) -> None:
        transport = FlakyTransport(self.ctx, fail) if fail else None
        report = export_connection(self.ctx, "acme", now=NOW, transport=transport)
        # A failing outbox fails the run unless there was nothing to upload: a pending file
        # already there byte for byte counts as delivered without a new upload.
        allowed = ("failed", "noop", "delivered") if fail else ("delivered", "noop")
        assert report.state in allowed, report.error

    def teardown(self) -> None:
        try:
            final = export_connection(self.ctx, "acme", now=NOW)
            assert final.state in ("delivered", "noop"), final.error
            rows = []
            for path in sorted((self.dir / "ws" / "outbox").glob("[!.]*.csv")):
                with path.open(encoding="utf-8", newline="") as fh:
                    rows += list(csv.DictReader(fh))
            new = [(r["Employee ID"], r["Course"]) for r in rows if r["Type"] == "new"]
            assert sorted(new) == sorted(self.current)  # each completion once, none lost
            last = {(r["Employee ID"], r["Course"]): float(r["Score"]) for r in rows}
            assert last == self.current  # amendments carry the corrected values
        finally:
            self.ctx.close()
            shutil.rmtree(self.dir, ignore_errors=True)


def test_every_completion_is_delivered_exactly_once(template: Path) -> None:
    ExportMachine.template = template
    run = settings(max_examples=25, stateful_step_count=12, deadline=None)(ExportMachine)
    run.TestCase().runTest()
