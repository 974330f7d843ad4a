"""``link`` on a Moodle site: adopt existing accounts (made by hand, or by Moodle's own
upload tool) into a connection's mirror, matched by idnumber or by e-mail.

Only accounts that no connection feeding the site manages are offered; an account is
adopted only after the operator confirms, and nothing is sent to Moodle by adopting it.
Its fingerprint is left unsettled, so the next import compares every mapped field with
the file and brings the account in line (username and idnumber included).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import pandas as pd

from filebridge.lms.mirror import UNSETTLED, Entry, Mirror, Outcome
from filebridge.lms.moodle.client import MoodleClient
from filebridge.lms.moodle.target import MoodleTarget
from filebridge.lms.moodle.users import canonical_from
from filebridge.person import KEY

COLUMNS = ["user_id", "lms_employee_id", "email", KEY, "line", "note"]


def candidates(client: MoodleClient, target: MoodleTarget, people: pd.DataFrame, by: str,
               managed: Collection[str], mine: Collection[str]) -> pd.DataFrame:
    """Moodle accounts matching the file's ``people`` on ``by`` (``email`` or
    ``employee_id``, which is the idnumber) that no connection manages (``managed``:
    Moodle ids in any mirror of the site; ``mine``: this connection's employee ids).

    Returns ``user_id, lms_employee_id, email, employee_id, line, note``; ``note`` is
    blank for an adoptable match, else why it is not adopted.
    """
    column = target.idnumber if by == KEY else "email"
    field = "idnumber" if by == KEY else "email"
    if column not in people:
        return pd.DataFrame(columns=COLUMNS)
    values = sorted({str(v) for v in people[column] if str(v or "")})
    found = [u for u in client.users_by_field(field, values)
             if str(u.get("id")) not in managed]
    if not found:
        return pd.DataFrame(columns=COLUMNS)
    accounts = pd.DataFrame(
        [(int(u["id"]), str(u.get("idnumber", "") or ""), str(u.get("email", "") or ""),
          _match(u, field)) for u in found],
        columns=["user_id", "lms_employee_id", "email_lms", "match"])
    wanted = people[[KEY, "email", "line"]].copy()
    keys = people[column].astype(str)
    wanted["match"] = keys.str.lower() if field == "email" else keys
    pairs = wanted.merge(accounts, on="match")
    pairs["note"] = ""
    pairs.loc[pairs.duplicated("match", keep=False), "note"] = f"several Moodle accounts or " \
        f"people share this {field}"
    pairs.loc[pairs[KEY].isin(set(mine)), "note"] = \
        "the connection already manages this employee id"
    return pairs[COLUMNS].reset_index(drop=True)


def _match(user: dict[str, Any], field: str) -> str:
    value = str(user.get(field, "") or "")
    return value.lower() if field == "email" else value


def adopt(client: MoodleClient, target: MoodleTarget, mirror: Mirror, connection: str,
          pairs: pd.DataFrame, run_id: int | None, now: datetime) -> int:
    """Mirror the adoptable accounts of ``pairs`` as ``connection``'s people, read afresh
    from Moodle (an account taken meanwhile by another connection is skipped)."""
    ok = pairs.loc[pairs["note"] == ""]
    if ok.empty:
        return 0
    taken = {e.lms_id for _, e in mirror.everyone()}
    users = {str(u["id"]): u for u in client.users_by_field(
        "id", [str(i) for i in ok["user_id"]])}
    outcomes = []
    for eid, user_id in zip(ok[KEY].astype(str), ok["user_id"].astype(str), strict=True):
        user = users.get(user_id)
        if user is None or user_id in taken:
            continue
        outcomes.append(Outcome(eid, "adopt", True, entry=Entry(
            eid, user_id, UNSETTLED, not bool(user.get("suspended", False)),
            {k: v for k, v in canonical_from(user, target).items() if k != KEY})))
    mirror.intend(connection, run_id, [(o.employee_id, "adopt", o.entry.lms_id)
                                       for o in outcomes if o.entry is not None], now)
    mirror.settle(connection, run_id, outcomes, now)
    return len(outcomes)
