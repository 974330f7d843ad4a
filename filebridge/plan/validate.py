"""Whole-file checks that no single row can make: duplicates, managers, manager cycles.

Pure: takes the mapped records and the set of employee ids the LMS already knows,
marks rejected rows in place and returns the problems found.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from filebridge.columnar import (
    arrow_text,
    duplicated,
    is_in,
    positions_among_few,
    positions_of,
)
from filebridge.mapping import MappedRecords
from filebridge.person import KEY
from filebridge.plan.state import ActualState
from filebridge.problems import Problem, ProblemCode


def validate_file(records: MappedRecords, file: str, state: ActualState | None,
                  columns: Mapping[str, str] | None = None) -> None:
    """Reject duplicate keys and emails, unknown and self managers, and manager cycles.

    ``state`` (the LMS, None for a file on its own) knows the managers who are not in
    the file, by id or by work email; ``columns`` maps canonical fields to the source
    columns named in problems.
    """
    frame = records.frame
    names = _Names(columns or {})
    # Duplicate ids by one sort of the ids; each manager's row by hashing the few
    # distinct managers and probing them with the ids. Hashing every id into a table
    # instead costs about twice both together.
    has_manager_ids = "manager_id" in frame.columns
    managers = positions_among_few(arrow_text(frame["manager_id"]), arrow_text(frame[KEY])
                                   ) if has_manager_ids else None
    _duplicates(records, file, KEY, "duplicate-key", "employee id", names)
    if "email" in frame.columns:
        _duplicates(records, file, "email", "duplicate-email", "work email", names)
    if "manager_email" in frame.columns and not has_manager_ids:
        _resolve_manager_emails(records, file, names, state)
    if "manager_id" in frame.columns:
        _managers(records, file, state, names, managers)


class _Names(dict):
    """Source column for a canonical field, the field itself when unmapped."""

    def __missing__(self, key: str) -> str:
        return key


def _reject(records: MappedRecords, positions: np.ndarray, problems: list[Problem]) -> None:
    records.rejected[positions] = True
    records.problems.extend(problems)


def _duplicates(records: MappedRecords, file: str, column: str, code: ProblemCode, what: str,
                names: _Names, found: np.ndarray | None = None) -> None:
    """Reject rows sharing a non-blank value (``found``: the duplicates, if known)."""
    frame = records.frame
    values = frame[column]
    live = (values != "") & ~pd.Series(records.rejected, index=frame.index)
    dup = pd.Series(duplicated(values) if found is None else found, index=frame.index) & live
    if not dup.any():
        return
    lines_by_value = frame.loc[dup].groupby(column)["line"].agg(lambda s: tuple(int(x) for x in s))
    positions = np.flatnonzero(dup.to_numpy())
    problems = []
    for pos in positions:
        value = str(values.iat[pos])
        line = int(frame["line"].iat[pos])
        others = tuple(n for n in lines_by_value[value] if n != line)
        problems.append(Problem(code, f"{what} {value!r} also on line(s) "
                                + ", ".join(map(str, others)), file, line, names[column], value,
                                related_lines=others))
    _reject(records, positions, problems)


def _resolve_manager_emails(records: MappedRecords, file: str, names: _Names,
                            state: ActualState | None) -> None:
    """Turn ``manager_email`` into ``manager_id``: the file's people first, then the LMS."""
    frame = records.frame
    by_email = frame.loc[frame["email"] != ""].drop_duplicates("email").set_index("email")[KEY]
    resolved = frame["manager_email"].map(by_email)
    outside = (frame["manager_email"] != "") & resolved.isna()
    if outside.any() and state is not None:
        # A delta file lists only changed people: their managers are usually in the LMS.
        found = state.manager_ids_by_email(sorted(set(frame.loc[outside, "manager_email"])))
        if found:
            resolved = resolved.fillna(frame["manager_email"].map(pd.Series(found, dtype="str")))
    frame["manager_id"] = resolved.fillna("").astype("str")
    unknown = (frame["manager_email"] != "") & resolved.isna()
    positions = np.flatnonzero(unknown.to_numpy())
    problems = [Problem("unknown-manager",
                        f"manager {frame['manager_email'].iat[p]!r} is neither in the file nor "
                        "the work email of exactly one LMS user", file,
                        int(frame["line"].iat[p]), names["manager_email"],
                        str(frame["manager_email"].iat[p])) for p in positions]
    _reject(records, positions, problems)


def _managers(records: MappedRecords, file: str, state: ActualState | None, names: _Names,
              target: np.ndarray | None = None) -> None:
    """Self, unknown and circular managers. ``target``: each manager's row, if known."""
    frame = records.frame
    ids, managers = frame[KEY], frame["manager_id"]
    live = ~records.rejected
    has_manager = (managers != "").to_numpy(dtype=bool)
    self_managed = live & has_manager & (managers == ids).to_numpy(dtype=bool)
    positions = np.flatnonzero(self_managed)
    _reject(records, positions, [
        Problem("self-manager", f"{ids.iat[p]!r} is their own manager", file,
                int(frame["line"].iat[p]), names["manager_id"], str(ids.iat[p]))
        for p in positions])
    live &= ~self_managed
    # Each row's manager as a row of the file (one Arrow hash lookup for all of them);
    # a manager whose only row is rejected is not in the file.
    target = positions_of(managers, ids) if target is None else target.copy()
    in_file = target >= 0
    in_file[in_file] = live[target[in_file]]
    target[~in_file] = -1
    outside_rows = live & has_manager & ~in_file
    outside = set(managers[outside_rows].unique().tolist())  # few: managers not in the file
    known = state.existing_ids(outside) if outside and state is not None else set()
    unknown = outside_rows & ~is_in(managers, known) if known else outside_rows
    positions = np.flatnonzero(unknown)
    _reject(records, positions, [
        Problem("unknown-manager", f"manager {managers.iat[p]!r} is neither in the file nor "
                "in the LMS", file, int(frame["line"].iat[p]), names["manager_id"],
                str(managers.iat[p])) for p in positions])
    _cycles(records, file, live & ~unknown, target, names)


def _cycles(records: MappedRecords, file: str, alive: np.ndarray, target: np.ndarray,
            names: _Names) -> None:
    """Find manager cycles by pruning people nobody reports to, then name each chain.

    ``target``: each row's manager as a row position (-1: none in the file).
    """
    alive = alive.copy()
    # In a graph where each person has at most one manager, exactly the people on a
    # cycle survive repeated removal of people with no reports; one pass per org level.
    while True:
        edges = target[alive & (target >= 0)]
        indegree = np.bincount(edges, minlength=len(target))
        drop = alive & (indegree == 0)
        if not drop.any():
            break
        alive &= ~drop
    on_cycle = np.flatnonzero(alive)
    if not len(on_cycle):
        return
    frame = records.frame
    ids, lines = frame[KEY], frame["line"].to_numpy()
    seen: set[int] = set()
    problems = []
    for start in on_cycle:
        if start in seen:
            continue
        chain: list[int] = [int(start)]
        node = int(target[start])
        while node != start:
            chain.append(node)
            node = int(target[node])
        seen.update(chain)
        chain_text = " → ".join([str(ids.iat[i]) for i in chain] + [str(ids.iat[start])])
        related = tuple(int(lines[i]) for i in chain)
        for i in chain:
            problems.append(Problem("manager-cycle", f"manager cycle {chain_text}", file,
                                    int(lines[i]), names["manager_id"], str(ids.iat[i]),
                                    related_lines=related))
    _reject(records, on_cycle, problems)
