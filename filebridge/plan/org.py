"""Departments and job titles: created when first seen, renamed, removed when unused.

The file says which departments exist (code, name, parent) through its people; the
store says which exist now and which connection created them. Only what this
connection created is ever renamed or removed. Departments are few (thousands, not
millions), so plain Python is fine here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from filebridge.columnar import is_in
from filebridge.person import KEY
from filebridge.plan.model import ORG_COLUMNS
from filebridge.plan.policy import Cleanup

# (department codes, job titles) -> DataFrame(kind, value, managed_by, employee_id) of
# the active people using them.
Usage = Callable[[Sequence[str], Sequence[str]], pd.DataFrame]


@dataclass(frozen=True)
class StoredOrg:
    """The store's departments (code, name, parent_code, managed_by) and job titles
    (name, managed_by)."""

    departments: pd.DataFrame
    job_titles: pd.DataFrame


def department_key(columns: Sequence[str]) -> str | None:
    """The field departments are keyed by: their code, or their name when no code is mapped."""
    if "department_code" in columns:
        return "department_code"
    return "department" if "department" in columns else None


def desired_departments(rows: pd.DataFrame) -> pd.DataFrame:
    """code, name, parent_code per department the rows use (first non-blank wins)."""
    key = department_key(rows.columns)
    if key is None:
        return pd.DataFrame(columns=["code", "name", "parent_code"])
    frame = pd.DataFrame({
        "code": rows[key],
        "name": rows["department"] if "department" in rows else rows[key],
        "parent_code": rows["parent_department_code"] if "parent_department_code" in rows
        else "",
    })
    frame = frame.loc[frame["code"] != ""].replace("", pd.NA)
    out = frame.groupby("code", sort=True).first().fillna("").reset_index()
    return out.astype({"code": "str", "name": "str", "parent_code": "str"})


def department_cycles(parents: dict[str, str]) -> list[list[str]]:
    """Every cycle in a code -> parent tree, each as its chain of codes."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in parents:
        path: list[str] = []
        seen: dict[str, int] = {}
        node = start
        while node in parents and node not in done and node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = parents[node]
        if node in seen:
            cycles.append(path[seen[node]:])
        done.update(path)
    return cycles


def tree(desired: pd.DataFrame, stored: StoredOrg) -> dict[str, str]:
    """The department tree after the file: the file's parents win over the stored ones."""
    parents = {c: p for c, p in zip(stored.departments["code"], stored.departments["parent_code"],
                                    strict=True) if p}
    for code, parent in zip(desired["code"], desired["parent_code"], strict=True):
        if parent:
            parents[code] = parent
    return parents


def org_changes(connection: str, rows: pd.DataFrame, stored: StoredOrg, usage: Usage,
                cleanup: Cleanup, leaving: set[str], has_parents: bool,
                keep_blank: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Department and job title changes as an ``ORG_COLUMNS`` frame.

    ``rows``: the file's people who stay active; ``leaving``: ids deactivated or deleted
    by this plan (they no longer keep a department alive); ``keep_blank``: fields whose
    blank cell keeps the stored value (such a person keeps their department).
    """
    parts: list[tuple[str, ...]] = []
    want = desired_departments(rows)
    have = stored.departments.set_index("code")
    ours = have.loc[have["managed_by"] == connection]
    for code, name, parent in want.itertuples(index=False):
        if code not in have.index:
            parts.append(("department", "create", code, name, parent, "", ""))
        elif code in ours.index:
            old_name, old_parent = ours.at[code, "name"], ours.at[code, "parent_code"]
            new_parent = parent if has_parents else old_parent
            if (name and name != old_name) or new_parent != old_parent:
                parts.append(("department", "update", code, name or old_name, new_parent,
                              old_name, old_parent))
    titles = sorted(set(rows["job_title"].unique()) - {""}) if "job_title" in rows else []
    known_titles = set(stored.job_titles["name"])
    parts += [("job_title", "create", t, t, "", "", "") for t in titles if t not in known_titles]
    if cleanup == "remove-empty" and department_key(rows.columns) is not None:
        parts += _removals(connection, rows, want, stored, usage, leaving, titles, keep_blank)
    return pd.DataFrame(parts, columns=list(ORG_COLUMNS), dtype=object)


def _removals(connection: str, rows: pd.DataFrame, want: pd.DataFrame, stored: StoredOrg,
              usage: Usage, leaving: set[str], titles: list[str],
              keep_blank: frozenset[str]) -> list[tuple[str, ...]]:
    deps = stored.departments
    ours = deps.loc[(deps["managed_by"] == connection) & ~deps["code"].isin(set(want["code"]))]
    jt = stored.job_titles
    our_titles = jt.loc[(jt["managed_by"] == connection) & ~jt["name"].isin(set(titles)), "name"]
    if ours.empty and our_titles.empty:
        return []
    users = usage(ours["code"].tolist(), our_titles.tolist())
    # A person of this connection whose row names another value moves away from the
    # candidate; one leaving in this plan no longer counts.
    mine = (users["managed_by"] == connection).to_numpy()
    gone = mine & (_moves_away(users, rows, keep_blank) | is_in(users[KEY], leaving))
    alive = users.loc[~gone]
    used = {(k, v) for k, v in zip(alive["kind"], alive["value"], strict=True)}
    removable = {c for c in ours["code"] if ("department", c) not in used}
    parent_of = dict(zip(deps["code"], deps["parent_code"], strict=True))
    parent_of.update(zip(want["code"], want["parent_code"], strict=True))
    while True:  # a department that stays keeps its parent, and that one its own
        kept_parents = {p for c, p in parent_of.items() if c not in removable}
        if not removable & kept_parents:
            break
        removable -= kept_parents
    out: list[tuple[str, ...]] = []
    for code, name, parent in ours[["code", "name", "parent_code"]].itertuples(index=False):
        if code in removable:
            out.append(("department", "remove", code, "", "", name, parent))
    out += [("job_title", "remove", t, "", "", t, "") for t in our_titles
            if ("job_title", t) not in used]
    return out


def _moves_away(users: pd.DataFrame, rows: pd.DataFrame, keep_blank: frozenset[str]
                ) -> np.ndarray:
    """Which usages (``USAGE_COLUMNS``) end with the file: the person's row sets the field
    to another value. A blank cell of a keep-blank field, or a field the rows do not have,
    keeps the stored value, and so the usage."""
    out = np.zeros(len(users), dtype=bool)
    fields = [f for f in (department_key(rows.columns), "job_title")
              if f is not None and f in rows.columns]
    # Only the rows of people using a candidate, and only the two fields: the whole
    # file's rows copied and indexed were the night's peak (a million rows: ~50 MB).
    by_id = (rows.loc[is_in(rows[KEY], users[KEY]), [KEY, *fields]]
             .drop_duplicates(KEY).set_index(KEY))
    for kind, field in (("department", department_key(rows.columns)), ("job_title", "job_title")):
        if field is None or field not in by_id.columns:
            continue
        hit = (users["kind"] == kind).to_numpy() & is_in(users[KEY], by_id.index.to_series())
        if not hit.any():
            continue
        value = by_id[field].reindex(users.loc[hit, KEY]).to_numpy(dtype=object)
        out[np.flatnonzero(hit)] = (value != "") | (field not in keep_blank)
    return out
