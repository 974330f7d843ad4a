"""Policies: the ``policies`` block as a value, the include filter, and what the leaver
policy makes of a leaver."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from filebridge.config import ConfigError, load_settings
from filebridge.lms.memory import MemoryLms
from filebridge.plan.guard import GuardPolicy, Limit
from filebridge.plan.model import Plan
from filebridge.plan.policy import Policies, filtered_rows
from tests.plan.nights import NOW, night, people, plan_file, row

SETTINGS = """
state_dir: var
lms:
  url: sqlite:///{{state_dir}}/lms.sqlite
connections:
  acme:
    import_mapping: mappings/acme.yaml
    policies:
{policies}
    thresholds:
{thresholds}
    transport: {{type: local, inbox: /srv/in, pattern: "*.csv"}}
"""


def settings_file(tmp_path: Path, policies: str, thresholds: str) -> Path:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings/acme.yaml").write_text(
        "version: 1\nformat: {type: csv}\nfields:\n  employee_id: {column: id}\n")
    path = tmp_path / "settings.yaml"
    path.write_text(textwrap.dedent(SETTINGS).lstrip().format(
        policies=textwrap.indent(textwrap.dedent(policies).strip(), " " * 6),
        thresholds=textwrap.indent(textwrap.dedent(thresholds).strip(), " " * 6)))
    return path


def test_policies_from_a_loaded_settings_file(tmp_path: Path) -> None:
    path = settings_file(tmp_path, """
        leavers: delete
        delete_grace_days: 30
        rehire_match: employee_id_or_email
        cleanup: keep
        include: {email_domains: [Example.ORG, x.org], employee_types: [staff, contractor]}
        """, "delete: {count: 10, reaction: warn}")
    acme = load_settings(path).connections["acme"]
    assert Policies.from_config(acme.policies) == Policies(
        leavers="delete", delete_grace_days=30, rehire_match="employee_id_or_email",
        email_domains=("example.org", "x.org"), employee_types=("staff", "contractor"),
        cleanup="keep")
    assert dict(GuardPolicy.from_config(acme.thresholds).limits)["delete"] == Limit(
        5.0, 10, "warn")


def test_absent_keys_keep_the_defaults() -> None:
    assert Policies.from_config({}) == Policies(
        leavers="deactivate", delete_grace_days=0, rehire_match="employee_id",
        email_domains=(), employee_types=(), cleanup="remove-empty")
    assert Policies.from_config({"include": None}) == Policies()


def test_vocabulary_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = settings_file(tmp_path, """
        leavers: purge
        delete_grace_days: -1
        rehire_match: email
        cleanup: remove
        """, "deactivate: {percent: 5, reaction: stop}")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert [p.render() for p in caught.value.problems] == [
        "settings.yaml:8: connections.acme.policies.leavers: 'purge' is not one of "
        "['deactivate', 'delete', 'ignore']",
        "settings.yaml:9: connections.acme.policies.delete_grace_days: must be at least 0, "
        "got -1",
        "settings.yaml:10: connections.acme.policies.rehire_match: 'email' is not one of "
        "['employee_id', 'employee_id_or_email']",
        "settings.yaml:11: connections.acme.policies.cleanup: 'remove' is not one of "
        "['remove-empty', 'keep'] (did you mean 'remove-empty'?)",
        "settings.yaml:13: connections.acme.thresholds.deactivate.reaction: 'stop' is not one "
        "of ['hold', 'warn']",
    ]


def test_include_filter_reasons() -> None:
    rows = pd.DataFrame({
        "employee_id": ["1", "2", "3", "4", "5"],
        "email": ["a@X.org", "b@other.org", "", "d@other.org", "e@x.org"],
        "employee_type": ["staff", "staff", "staff", "temp", "temp"],
        "line": [2, 3, 4, 5, 6],
    })
    policies = Policies(email_domains=("x.org",), employee_types=("staff",))
    # The type is checked first; a blank email is not outside the domain filter.
    assert policies.excluded(rows).tolist() == [
        "", "email domain 'other.org' not included", "", "employee type 'temp' not included",
        "employee type 'temp' not included"]
    mask, skipped = filtered_rows(rows, policies)
    assert mask.tolist() == [False, True, False, True, True]
    assert skipped.values.tolist() == [
        ["2", "filtered-out", "email domain 'other.org' not included", 3],
        ["4", "filtered-out", "employee type 'temp' not included", 5],
        ["5", "filtered-out", "employee type 'temp' not included", 6],
    ]
    # A filter on a field the mapping does not have filters nothing.
    assert Policies(employee_types=("staff",)).excluded(rows[["employee_id", "email"]]
                                                        ).tolist() == [""] * 5
    assert filtered_rows(rows, Policies())[1].empty


def test_filtered_rows_are_skipped_and_filtered_managed_people_leave() -> None:
    lms = MemoryLms()
    night(lms, [row("1", kind="staff"), row("2", kind="staff")])
    policies = Policies(employee_types=("staff",))
    planned, _ = plan_file(lms, [row("1", kind="staff"), row("2", kind="temp"),
                                 row("3", kind="temp")], policies=policies)
    assert planned.plan.skipped.values.tolist() == [
        ["2", "filtered-out", "employee type 'temp' not included", 3],
        ["3", "filtered-out", "employee type 'temp' not included", 4],
    ]
    assert planned.plan.deactivations.values.tolist() == [
        ["2", "outside the include filter: employee type 'temp' not included", 3]]
    assert planned.plan.creates.empty


def leaver_plan(policies: Policies, inactive_days: int = 0) -> tuple[MemoryLms, Plan]:
    """Connection c with 1, 2 and 3; 3 was deactivated ``inactive_days`` before NOW; the
    file lists 1 only."""
    lms = MemoryLms()
    night(lms, [row("1"), row("2"), row("3")], now=NOW - timedelta(days=inactive_days + 1))
    night(lms, [row("1"), row("2")], "delta", now=NOW - timedelta(days=inactive_days + 1))
    night(lms, [row("3", state="T")], "delta", now=NOW - timedelta(days=inactive_days))
    planned, _ = plan_file(lms, [row("1")], policies=policies)
    return lms, planned.plan


def test_leavers_deactivate_delete_or_ignore() -> None:
    _, plan = leaver_plan(Policies())
    assert plan.deactivations.values.tolist() == [["2", "missing from snapshot", None]]
    assert plan.deletes.empty
    _, plan = leaver_plan(Policies(leavers="delete"))
    # Deleted at once: the active leaver 2, and 3 deactivated earlier (grace period 0).
    assert plan.deactivations.empty
    assert plan.deletes.values.tolist() == [["2", "missing from snapshot", None],
                                            ["3", "deactivated more than 0 days ago", None]]
    _, plan = leaver_plan(Policies(leavers="ignore"))
    assert plan.is_empty()


def test_delete_after_the_grace_period_only() -> None:
    grace = Policies(leavers="delete", delete_grace_days=30)
    lms, plan = leaver_plan(grace, inactive_days=29)
    assert plan.deactivations.values.tolist() == [["2", "missing from snapshot", None]]
    assert plan.deletes.empty
    lms, plan = leaver_plan(grace, inactive_days=30)
    assert plan.deactivations["employee_id"].tolist() == ["2"]
    assert plan.deletes.values.tolist() == [["3", "deactivated more than 30 days ago", None]]
    lms.apply(plan, 9, NOW)
    assert people(lms) == {"1": (True, "1@x.org", "", ""), "2": (False, "2@x.org", "", "")}
