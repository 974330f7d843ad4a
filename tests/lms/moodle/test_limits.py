"""Request limits come from the site: the test Moodle's PHP reads 5000 variables a
request (``-d max_input_vars=5000``), and filebridge finds that without being told."""

from __future__ import annotations

import pytest

from filebridge.lms.moodle import target_from_config
from filebridge.lms.moodle.client import MoodleClient
from tests.lms.moodle.conftest import block
from tests.moodlesite import MoodleSite

# One xdist worker starts the session's Moodle and runs every Moodle test.
pytestmark = [pytest.mark.moodle, pytest.mark.xdist_group("moodle")]


def test_max_input_vars_is_found_from_the_site(moodle: MoodleSite) -> None:
    client = MoodleClient(target_from_config(block(moodle)), moodle.token)
    limit = client.input_limit()
    assert 4750 <= limit <= 5000, limit  # within 5% below the site's own setting
    probes = client.calls
    assert probes <= 12
    assert client.input_limit() == limit and client.calls == probes  # asked once
    # What it found holds: a lookup of as many ids as the budget allows gets its answer,
    # where PHP would have dropped the required ``field`` of a larger one.
    assert client.budget() < limit
    ids = [str(i) for i in range(1, client.budget() - 1)]
    admin = [(u["id"], u["username"]) for u in client.users_by_field("id", ["2"])]
    assert [(u["id"], u["username"]) for u in client.users_by_field("id", ids)
            if u["id"] == 2] == admin


def test_the_setting_overrides_the_probe(moodle: MoodleSite) -> None:
    client = MoodleClient(target_from_config(block(moodle, max_input_vars=300)), moodle.token)
    assert client.input_limit() == 300 and client.calls == 0
    assert client.budget() == 267
