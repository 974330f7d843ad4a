"""Property: whatever sequence of plans is applied, the store reflects exactly those plans."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filebridge.lms import SqlStore
from filebridge.plan.model import Plan
from filebridge.sql import open_engine
from tests.lms.contract import NOW
from tests.lms.plans import plan

FIELDS = ("employee_id", "email", "department_code", "custom.cost_center")
VALUES = st.sampled_from(["", "a", "b", "Zoë", "'; --", "D1", "D2"])
IDS = [f"{i:03d}" for i in range(12)]
FINGERPRINTS = st.integers(-(2**63), 2**63 - 1)

# One step: (creates, field updates, fingerprint updates, leavers, returners) as raw choices.
STEP = st.tuples(
    st.lists(st.tuples(st.sampled_from(IDS), VALUES, VALUES, VALUES, FINGERPRINTS), max_size=5),
    st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(FIELDS[1:]), VALUES), max_size=6),
    st.lists(st.tuples(st.sampled_from(IDS), FINGERPRINTS), max_size=3),
    st.lists(st.sampled_from(IDS), max_size=3),
    st.lists(st.sampled_from(IDS), max_size=3),
)

Model = dict[str, dict[str, object]]


def _plan(step: tuple, model: Model) -> Plan:
    """Turn raw choices into a valid plan against ``model``, and update the model."""
    new_rows, changed_rows, fp_rows, leavers, returners = step
    new, fps, changed, new_fps = [], [], [], {}
    touched: set[str] = set()
    for eid, email, dept, cost, fp in new_rows:
        if eid in model or eid in touched:
            continue
        touched.add(eid)
        new.append(
            {
                "employee_id": eid,
                "email": email,
                "department_code": dept,
                "custom.cost_center": cost,
            }
        )
        fps.append(fp)
    seen: set[tuple[str, str]] = set()
    for eid, field, value in changed_rows:
        if eid not in model or (eid, field) in seen or model[eid][field] == value:
            continue
        seen.add((eid, field))
        changed.append((eid, field, str(model[eid][field]), value))
        model[eid][field] = value
    for eid, fp in fp_rows:
        if eid in model:
            new_fps[eid] = fp
            model[eid]["fingerprint"] = fp
    out = sorted({e for e in leavers if e in model and model[e]["active"]})
    back = sorted({e for e in returners if e in model and not model[e]["active"]} - set(out))
    for eid in out:
        model[eid]["active"] = False
    for eid in back:
        model[eid]["active"] = True
    for record, fp in zip(new, fps, strict=True):
        model[record["employee_id"]] = {**record, "fingerprint": fp, "active": True}
    return plan(
        new=new,
        fps=fps,
        changed=changed,
        new_fps=new_fps,
        leavers=out,
        returners=back,
        fields=FIELDS,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=1, max_size=5))
def test_store_reflects_exactly_the_applied_plans(steps: list[tuple]) -> None:
    model: Model = {}
    with tempfile.TemporaryDirectory() as tmp:
        dumps = []
        for copy in ("a", "b"):
            engine = open_engine(f"sqlite:///{Path(tmp) / copy / 'db.sqlite'}")
            store = SqlStore(engine)
            store.migrate()
            model = {}
            for step in steps:
                with engine.begin() as tx:
                    store.apply_within(tx, _plan(step, model), None, NOW)
                snap = store.state("acme").snapshot().set_index("employee_id")
                assert snap["fingerprint"].to_dict() == {
                    e: r["fingerprint"] for e, r in model.items()
                }
                assert snap["active"].to_dict() == {e: r["active"] for e, r in model.items()}
                got = store.state("acme").fetch(sorted(model), FIELDS[1:])
                assert got.to_dict("index") == {
                    e: {f: r[f] for f in FIELDS[1:]} for e, r in model.items()
                }
            dumps.append(store.dump())
            engine.dispose()
        assert dumps[0] == dumps[1]
