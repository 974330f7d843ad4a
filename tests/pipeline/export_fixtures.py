"""A workspace with an export mapping, people and completions, for export tests."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from filebridge.lms.completions import CompletionInput, people_by_employee_id, record_completions
from filebridge.pipeline.context import Context
from tests.pipeline.conftest import NIGHT1, write_workspace

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)

CSV_MAPPING = """
kind: export
version: 1
format: {type: csv, encoding: utf-8, delimiter: ",", line_ending: crlf}
file_name: "completions_{date:%Y%m%d}_{seq:04d}.csv"
timezone: Europe/Berlin
overdue: {include: true, status: overdue}
columns:
  - {header: Employee ID, field: person.employee_id}
  - {header: Course, field: course.code}
  - {header: Title, field: course.title}
  - {header: Status, field: status, map: {passed: P, failed: F, completed: C, overdue: O}}
  - {header: Completed, field: completed_at, date_format: "%d.%m.%Y %H:%M"}
  - {header: Due, field: due_at}
  - {header: Score, field: score, neutralize: false}
  - {header: Type, field: record_type}
  - {header: Ref, field: completion_id}
"""


def export_workspace(root: Path, mapping: str = CSV_MAPPING, *, outbox: str = "outbox",
                     transport: str | None = None) -> Path:
    """The pipeline test workspace plus an export mapping and an outbox for acme."""
    settings = write_workspace(root)
    (root / "mappings" / "export.yaml").write_text(textwrap.dedent(mapping), encoding="utf-8")
    text = settings.read_text(encoding="utf-8")
    block = transport or f'{{type: local, inbox: drop/acme, pattern: "acme_*.csv", ' \
                         f'outbox: {outbox}}}'
    text = text.replace(
        '    import_mapping: mappings/acme.yaml\n'
        '    transport: {type: local, inbox: drop/acme, pattern: "acme_*.csv"}\n',
        f'    import_mapping: mappings/acme.yaml\n    export_mapping: mappings/export.yaml\n'
        f'    transport: {block}\n')
    settings.write_text(text, encoding="utf-8")
    return settings


def load_people(ctx: Context) -> None:
    """Night 1 applied: employees 001000-001199 (a few rejected) exist for acme."""
    from filebridge.pipeline.importer import RunOptions, run_import

    run_import(ctx, "acme", NIGHT1, RunOptions(mode="apply"))


def record(ctx: Context, rows: list[tuple[str, str, str, str, str, float | None]],
           now: datetime = NOW) -> dict[str, int]:
    """Record ``(employee_id, course, title, status, completed_at ISO, score)`` results."""
    with ctx.store.engine.begin() as tx:
        people = people_by_employee_id(tx, "acme", [r[0] for r in rows])
        items = [CompletionInput(people[e][0], c, t, s, datetime.fromisoformat(d), score, 30)
                 for e, c, t, s, d, score in rows]
        return record_completions(tx, items, now)
