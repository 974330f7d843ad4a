"""Human output for run reports: the plan as tables, problems as file:line lines."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from filebridge.advice import held_advice, problem_advice
from filebridge.cli.common import table
from filebridge.cli.style import Colour, paint

MAX_ROWS = 50


def _name(row: dict[str, Any]) -> str:
    return " ".join(x for x in (row.get("first_name"), row.get("last_name")) if x)


def render_plan(plan: dict[str, Any], out: TextIO | None = None) -> None:
    """Creates, field changes, deactivations and reactivations, each as a table."""
    out = out or sys.stdout
    creates = plan.get("creates", [])
    if creates:
        out.write(f"\nCreate ({plan['counts']['create']}):\n")
        table([[r["employee_id"], _name(r), r.get("email", ""), r.get("line")]
               for r in creates[:MAX_ROWS]], ["employee_id", "name", "email", "line"], out)
    updates = plan.get("updates", [])
    if updates:
        out.write(f"\nUpdate ({plan['counts']['update']} people, {len(updates)} fields):\n")
        table([[r["employee_id"], r["field"], r["old"], r["new"], r.get("line")]
               for r in updates[:MAX_ROWS]], ["employee_id", "field", "old", "new", "line"], out)
    drift = plan.get("drift", [])
    if drift:
        out.write(f"\nDrift: changed in the LMS by hand since filebridge wrote it; the apply "
                  f"corrects the LMS ({plan['counts'].get('drift', 0)} people, "
                  f"{len(drift)} fields):\n")
        table([[r["employee_id"], r["field"], r["lms"], r["new"], r.get("line")]
               for r in drift[:MAX_ROWS]], ["employee_id", "field", "lms", "file", "line"], out)
    for key, title in (("deactivations", "Deactivate"), ("reactivations", "Reactivate"),
                       ("deletes", "Delete")):
        rows = plan.get(key, [])
        if rows:
            out.write(f"\n{title} ({len(rows)}):\n")
            table([[r["employee_id"], r["reason"], r.get("line") or ""] for r in rows[:MAX_ROWS]],
                  ["employee_id", "reason", "line"], out)
    _extra_sections(plan, out)
    shown = max(len(creates), len(updates), len(plan.get("skipped", [])))
    if shown > MAX_ROWS or plan.get("truncated"):
        out.write(f"\n(tables show the first {MAX_ROWS} rows; --json has up to 1000 per list)\n")


def _extra_sections(plan: dict[str, Any], out: TextIO) -> None:
    """Rehires under a new id, org changes, group changes and skipped rows."""
    rekeys = plan.get("rekeys", [])
    if rekeys:
        out.write(f"\nRehire under a new employee id ({len(rekeys)}):\n")
        table([[r["old_employee_id"], r["employee_id"], r.get("line") or ""]
               for r in rekeys[:MAX_ROWS]], ["old employee_id", "new employee_id", "line"], out)
    org = plan.get("org", [])
    if org:
        out.write(f"\nDepartments and job titles ({len(org)}):\n")
        table([[r["kind"], r["action"], r["code"], _org_change(r)] for r in org[:MAX_ROWS]],
              ["kind", "action", "code", "change"], out)
    groups = plan.get("groups", [])
    counts = plan.get("counts", {})
    if groups:
        out.write(f"\nGroups (+{counts.get('group_add', 0)} added, "
                  f"-{counts.get('group_remove', 0)} removed):\n")
        table([[r["employee_id"], "+" if r["action"] == "add" else "-", r["group"],
                r.get("line") or ""] for r in groups[:MAX_ROWS]],
              ["employee_id", "+/-", "group", "line"], out)
    group_drift = plan.get("group_drift", [])
    if group_drift:
        out.write(f"\nGroup drift: memberships removed in the LMS outside filebridge, put "
                  f"back ({counts.get('group_drift', len(group_drift))}):\n")
        table([[r["employee_id"], r["group"], r.get("line") or ""]
               for r in group_drift[:MAX_ROWS]], ["employee_id", "group", "line"], out)
    if counts.get("no_group"):
        out.write(f"\n{counts['no_group']} active people match no group rule\n")
    skipped = plan.get("skipped", [])
    if skipped:
        out.write(f"\nSkipped rows ({plan.get('counts', {}).get('skipped', len(skipped))}):\n")
        table([[r.get("line") or "", r["employee_id"], r["reason"], r["message"]]
               for r in skipped[:MAX_ROWS]], ["line", "employee_id", "reason", "why"], out)


def _org_change(r: dict[str, Any]) -> str:
    if r["action"] == "create":
        return r["name"] + (f" (parent {r['parent_code']})" if r.get("parent_code") else "")
    if r["action"] == "remove":
        return f"{r['old_name']}: no longer used"
    parts = []
    if r["name"] != r["old_name"]:
        parts.append(f"name {r['old_name']} → {r['name']}")
    if r["parent_code"] != r["old_parent_code"]:
        parts.append(f"parent {r['old_parent_code'] or '-'} → {r['parent_code'] or '-'}")
    return ", ".join(parts)


def render_refused(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """What an undo left alone, and why."""
    refused = report.get("refused", [])
    if refused:
        out.write(f"\nNot undone ({len(refused)}):\n")
        table([[r["employee_id"], r["action"], r.get("field") or "", r["reason"]]
               for r in refused[:200]], ["employee_id", "action", "field", "reason"], out)


def render_problems(report: dict[str, Any], out: TextIO | None = None) -> None:
    """Every rejected row and warning as ``file:line: column: message``."""
    out = out or sys.stdout
    items = report.get("problems", []) + report.get("warnings", [])
    if not items:
        return
    out.write(f"\nProblems ({len(items)}):\n")
    for p in items[:200]:
        where = f"{p['file']}:{p['line']}" if p.get("line") is not None else p["file"]
        col = f" {p['column']}:" if p.get("column") else ""
        tag = "warning: " if p.get("severity") == "warning" else ""
        out.write(f"  {where}:{col} {tag}{p['message']}\n")
    if report.get("problems_dropped"):
        out.write(f"  … and {report['problems_dropped']} more (limits.max_errors)\n")
    for code, p in {p["code"]: p for p in reversed(items)}.items():
        if advice := problem_advice(code, p):
            out.write(f"  next ({code}): {advice}\n")


STATE_COLOURS: dict[str, Colour] = {"applied": "green", "held": "yellow", "rejected": "red",
                                    "failed": "red"}


def summary_line(report: dict[str, Any], stream: TextIO | None = None) -> str:
    """The one line every run ends with (its state in colour when ``stream`` allows)."""
    c = report.get("counts", {})
    state = report["state"]
    if stream is not None and state in STATE_COLOURS:
        state = paint(state, STATE_COLOURS[state], stream)
    return (f"run {report.get('run_id')} {report['connection']} {report['file']}: "
            f"{state} — created {c.get('create', 0)}, updated {c.get('update', 0)}, "
            + (f"drift put back {c['drift']}, " if c.get("drift") else "") +
            f"deactivated {c.get('deactivate', 0)}, reactivated {c.get('reactivate', 0)}, "
            f"deleted {c.get('delete', 0)}, unchanged {c.get('unchanged', 0)}, "
            f"skipped {c.get('skipped', 0)}, rejected {report.get('rejected_rows', 0)}"
            + (f", group +{c.get('group_add', 0)}/-{c.get('group_remove', 0)}"
               if "group_add" in c else ""))


def render_report(report: dict[str, Any], out: TextIO | None = None) -> None:
    """A whole run for people: plan, problems, holds, next steps, summary."""
    out = out or sys.stdout
    if report["state"] == "duplicate":
        out.write(f"{report['file']}: same content as file {report['duplicate_of']}, already "
                  f"applied; nothing to do (replay it with `filebridge replay "
                  f"{report['duplicate_of']}`)\n")
        return
    if report.get("plan"):
        render_plan(report["plan"], out)
    render_problems(report, out)
    for h in report.get("holds", []):
        out.write(f"\n{paint(h['reaction'], 'yellow', out)}: {h['message']}\n")
    if report["state"] == "held":
        codes = [h["code"] for h in report.get("holds", []) if h["reaction"] == "hold"]
        out.write(f"held: nothing applied; {held_advice(codes, report['run_id'])}\n")
    if report.get("reject_file"):
        out.write(f"\nrejected rows written to {report['reject_file']}\n")
    out.write("\n" + summary_line(report, out) + "\n")


_DONE = (("create", "created"), ("update", "updated"), ("deactivate", "deactivated"),
         ("reactivate", "reactivated"), ("delete", "deleted"), ("rekey", "re-keyed"))


def stopped_while_applying(detail: dict[str, Any]) -> str:
    """What a run that is applying, or stopped while applying, did and was judged by
    (``show``): the changes the LMS confirmed and the managed count at its start."""
    counts, managed = detail["counts"], detail["managed_when_applying"]
    done = ", ".join(f"{counts[k]} {word}" for k, word in _DONE if counts.get(k))
    if detail["state"] == "running":
        head = "still applying"
    elif done:
        head = f"stopped while applying, after the LMS confirmed {done}"
    else:
        head = "stopped while applying, with no change of it confirmed"
    return (f"{head}; the connection managed {managed} people when it began, and a rerun "
            "of this file is judged against that count")
