"""A threshold is crossed only when every bound it sets is crossed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from filebridge.plan.guard import GuardPolicy, Limit, crossed

PERCENT = st.none() | st.floats(0, 100, allow_nan=False)
COUNT = st.none() | st.integers(0, 10_000)


@given(PERCENT, COUNT, st.integers(0, 20_000), st.integers(1, 20_000))
def test_crossed_means_both_bounds_crossed(percent, count, n, managed):
    limit = Limit(percent, count)
    over_pct = n / managed * 100 > percent if percent is not None else None
    over_count = n > count if count is not None else None
    set_bounds = [b for b in (over_pct, over_count) if b is not None]
    assert crossed(limit, n, managed) == (bool(set_bounds) and all(set_bounds))


def test_documented_defaults():
    limits = dict(GuardPolicy().limits)
    assert limits["deactivate"] == limits["delete"] == Limit(5.0, 10, "hold")
    assert not crossed(limits["deactivate"], 2, 40)  # a 40-person company, 2 leavers
    assert not crossed(limits["deactivate"], 11, 100_000)
    assert crossed(limits["deactivate"], 11, 40)
    assert crossed(limits["deactivate"], 163, 163)
