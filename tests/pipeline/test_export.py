"""The export run: golden files, exactly once, amendments, failed and repeated deliveries."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filebridge.ledger.exports import ExportLedger
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.exporter import Retried, abandon_pending, export_connection
from filebridge.transports import open_transport
from filebridge.transports.errors import TransportUnavailable
from tests.pipeline.export_fixtures import NOW, export_workspace, load_people, record

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "exports"
ROWS = [
    ("001001", "SEC-101", "Security Awareness", "passed", "2026-11-20T09:30:00+00:00", 92.5),
    ("001002", "XL-200", "=SUM(A1:A2) Excel", "completed", "2026-11-21T23:30:00+00:00", None),
    ("001003", "GDPR-1", "+Data, \"Protection\"", "failed", "2026-11-22T10:00:00+00:00", -1.0),
    ("001004", "RISK-1", "@risk\tand -more", "passed", "2026-11-23T08:00:00+00:00", 80.0),
]
PIPE = """
kind: export
version: 1
format: {type: pipe, encoding: cp1252, line_ending: lf}
file_name: "{connection}_{seq}.txt"
columns:
  - {header: EMPID, field: person.employee_id}
  - {header: COURSE, field: course.code}
  - {header: TITLE, field: course.title}
  - {header: RESULT, field: status}
  - {header: DATE, field: completed_at, date_format: "%Y%m%d"}
  - {header: SCORE, field: score, decimals: 1, neutralize: false}
  - {header: SOURCE, value: LMS}
"""
XML = """
kind: export
version: 1
format: {type: xml, xml: {root: Completions, record: Completion, namespace: "urn:example:lms:1"}}
file_name: "completions-{seq:03d}.xml"
columns:
  - {header: EmployeeID, field: person.employee_id}
  - {header: Course, field: course.code}
  - {header: Title, field: course.title}
  - {header: Status, field: status}
  - {header: CompletedAt, field: completed_at, date_format: "%Y-%m-%dT%H:%M:%SZ"}
  - {header: Score, field: score}
  - {header: RecordType, field: record_type}
"""


def open_ws(tmp_path: Path, mapping: str | None = None) -> Context:
    settings = export_workspace(tmp_path / "ws", *([mapping] if mapping else []))
    ctx = open_context(settings)
    load_people(ctx)
    return ctx


def outbox(ctx: Context) -> Path:
    return ctx.settings.base_dir / "outbox"


@pytest.mark.parametrize(("mapping", "golden"), [(None, "completions.csv"),
                                                 (PIPE, "completions_pipe.txt"),
                                                 (XML, "completions.xml")])
def test_golden_files(tmp_path: Path, mapping: str | None, golden: str) -> None:
    ctx = open_ws(tmp_path, mapping)
    try:
        record(ctx, ROWS)
        report = export_connection(ctx, "acme", now=NOW)
        assert report.state == "delivered", report.error
        [sent] = report.files
        data = Path(sent.delivered_to).read_bytes()
        if os.environ.get("FILEBRIDGE_UPDATE_GOLDEN"):
            (GOLDEN / golden).write_bytes(data)
        assert data == (GOLDEN / golden).read_bytes()
    finally:
        ctx.close()


def test_formula_cells_are_neutralised_except_numeric_columns(tmp_path: Path) -> None:
    ctx = open_ws(tmp_path)
    try:
        record(ctx, ROWS)
        text = Path(export_connection(ctx, "acme", now=NOW).files[0].delivered_to).read_text()
        assert "'=SUM(A1:A2) Excel" in text and "'+Data" in text and "'@risk" in text
        assert ",-1," in text  # score column: neutralize: false keeps the minus sign
    finally:
        ctx.close()


def test_each_completion_once_then_amendments(tmp_path: Path) -> None:
    ctx = open_ws(tmp_path)
    try:
        record(ctx, ROWS[:2])
        first = export_connection(ctx, "acme", now=NOW)
        assert (first.counts["completions"], first.watermark_before, first.watermark_after) == \
            (2, 0, 2)
        assert export_connection(ctx, "acme", now=NOW).state == "noop"
        record(ctx, [ROWS[0][:5] + (99.0,), ROWS[2]])  # a corrected score and a new result
        third = export_connection(ctx, "acme", now=NOW)
        assert (third.counts["amendments"], third.counts["completions"]) == (1, 1)
        text = Path(third.files[0].delivered_to).read_text()
        assert "001001,SEC-101,Security Awareness,P,20.11.2026 10:30,,99,amendment,1" in text
        assert [f.sequence for f in third.files] == [2]
        assert ExportLedger(ctx.ledger.engine).watermark("acme") == 4
    finally:
        ctx.close()


class FlakyTransport:
    """The real local transport, with deliveries that fail before or after the upload."""

    def __init__(self, ctx: Context, fail: str | None) -> None:
        self.inner = open_transport(ctx.connection("acme").transport,
                                    base_dir=ctx.settings.base_dir, spool_dir=ctx.spool_dir("x"))
        self.fail = fail

    def deliver(self, local: Path, name: str, *, done_marker: bool = False) -> str:
        if self.fail == "before":
            raise TransportUnavailable("hr", 22, "deliver", "connection reset")
        where = self.inner.deliver(local, name, done_marker=done_marker)
        if self.fail == "after":  # the upload worked; the confirmation never came back
            raise TransportUnavailable("hr", 22, "deliver", "connection reset")
        return where

    def __getattr__(self, name: str):  # everything else as the real transport
        return getattr(self.inner, name)


@pytest.mark.parametrize("fail", ["before", "after"])
def test_failed_delivery_resends_same_content_same_name(tmp_path: Path, fail: str) -> None:
    ctx = open_ws(tmp_path)
    try:
        record(ctx, ROWS[:2])
        broken = export_connection(ctx, "acme", now=NOW, transport=FlakyTransport(ctx, fail))
        assert (broken.state, broken.exit_code) == ("failed", 3)
        assert ExportLedger(ctx.ledger.engine).watermark("acme") == 0
        record(ctx, [ROWS[2]])  # arrives before the retry: goes into the next file
        retry = export_connection(ctx, "acme", now=NOW)
        assert retry.retried == [Retried(broken.run_id, (broken.files[0].name,))]
        assert [f.sequence for f in retry.files] == [2]
        sent = sorted(outbox(ctx).iterdir())
        assert [p.name for p in sent] == ["completions_20261127_0001.csv",
                                          "completions_20261127_0002.csv"]
        assert sent[0].read_bytes() == Path(broken.files[0].local_path).read_bytes()
        assert ExportLedger(ctx.ledger.engine).watermark("acme") == 3
        assert ctx.ledger.get_run(broken.run_id).state == "applied"
    finally:
        ctx.close()


def test_different_file_under_the_pending_name_is_never_overwritten(tmp_path: Path) -> None:
    ctx = open_ws(tmp_path)
    try:
        record(ctx, ROWS[:2])
        broken = export_connection(ctx, "acme", now=NOW, transport=FlakyTransport(ctx, "before"))
        name = broken.files[0].name
        outbox(ctx).mkdir(exist_ok=True)
        (outbox(ctx) / name).write_text("someone else's file")
        stuck = export_connection(ctx, "acme", now=NOW)
        assert (stuck.state, stuck.exit_code, stuck.error.code if stuck.error else None) == \
            ("failed", 2, "export-target-differs")
        assert (outbox(ctx) / name).read_text() == "someone else's file"
        assert abandon_pending(ctx, "acme", NOW) == [broken.run_id]
        again = export_connection(ctx, "acme", now=NOW)
        assert again.state == "delivered" and again.files[0].sequence == 2
        assert again.counts["completions"] == 2
    finally:
        ctx.close()


def test_dry_run_and_range_never_move_the_watermark(tmp_path: Path) -> None:
    ctx = open_ws(tmp_path)
    try:
        record(ctx, ROWS)
        dry = export_connection(ctx, "acme", now=NOW, dry_run=True)
        assert dry.state == "planned" and Path(dry.files[0].local_path).is_file()
        assert not outbox(ctx).exists()
        assert export_connection(ctx, "acme", now=NOW).counts["completions"] == 4
        ranged = export_connection(ctx, "acme", now=NOW,
                                   since=datetime(2026, 11, 21, tzinfo=UTC),
                                   until=datetime(2026, 11, 23, tzinfo=UTC))
        text = Path(ranged.files[0].delivered_to).read_text()
        assert ranged.counts["rows"] == 2 and text.count("resend") == 2
        assert ExportLedger(ctx.ledger.engine).watermark("acme") == 4
    finally:
        ctx.close()


def test_split_filters_and_overdue(tmp_path: Path) -> None:
    mapping = PIPE.replace('file_name: "{connection}_{seq}.txt"',
                           'file_name: "{connection}_{seq}_{part}.txt"\nmax_rows_per_file: 1\n'
                           'filters: {statuses: [passed]}\noverdue: {include: true}')
    ctx = open_ws(tmp_path, mapping)
    try:
        record(ctx, ROWS)
        from filebridge.lms.completions import AssignmentInput, record_assignments
        from filebridge.lms.completions import people_by_employee_id as people
        with ctx.store.engine.begin() as tx:
            uid = people(tx, "acme", ["001009"])["001009"][0]
            record_assignments(tx, [AssignmentInput(uid, "SEC-101", "", datetime(
                2026, 11, 25, tzinfo=UTC))], NOW)
        report = export_connection(ctx, "acme", now=NOW)
        assert [f.name for f in report.files] == ["acme_1_1.txt", "acme_2_2.txt",
                                                     "acme_3_3.txt"]
        assert (report.counts["filtered_out"], report.counts["overdue"]) == (2, 1)
        assert report.watermark_after == 4  # past the filtered rows too
        assert export_connection(ctx, "acme", now=NOW).state == "noop"  # overdue sent once
    finally:
        ctx.close()
