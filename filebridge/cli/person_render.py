"""Human output of ``person --file``: each field's mapping step by step, then the outcome."""

from __future__ import annotations

from filebridge.pipeline.person_file import FileAnswer, Outcome, RowTrace


def print_file_answer(answer: FileAnswer) -> None:
    """The person's rows in the file, traced, and what the file would do to them."""
    print(f"what {answer.file} would do to {answer.employee_id} of connection "
          f"{answer.connection} ({answer.file_kind or 'unread'} file; nothing was changed)")
    if not answer.rows:
        print("  no row of this file belongs to them")
    for row in answer.rows:
        _print_row(row)
    print("\nplanned:")
    for outcome in answer.outcomes:
        print("  " + describe_outcome(outcome))
    if answer.held is None:
        return
    verdict = "held for approval" if answer.held else "applied (the guard holds nothing)"
    print(f"\nthe whole file would be {verdict}")
    for hold in answer.holds:
        print(f"  {hold.reaction}: {hold.code}: {hold.message}")


def _print_row(row: RowTrace) -> None:
    print(f"\nline {row.line}:")
    for f in row.fields:
        source = f"column {f.column!r}" if f.column else "computed"
        chain = " → ".join(f"{s.step} {s.value!r}" for s in f.steps)
        print(f"  {f.field} ({source}): {chain} ⇒ {f.value!r}")


def describe_outcome(o: Outcome) -> str:
    """One line for one outcome."""
    where = f" (line {o.line})" if o.line is not None else ""
    if o.action == "update":
        return f"update {o.field}: {o.old!r} → {o.new!r}{where}"
    if o.action == "rekey":
        return f"re-key: employee id {o.old} → {o.new}{where}"
    if o.action in ("reject", "file-rejected"):
        column = f" column {o.column!r}" if o.column else ""
        value = f" value {o.value!r}" if o.value is not None else ""
        return f"{o.action} {o.code}{where}{column}{value}: {o.reason}"
    reason = f": {o.reason}" if o.reason else ""
    return f"{o.action}{where}{reason}"
