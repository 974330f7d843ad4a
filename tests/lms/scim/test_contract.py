"""The LMS contract, groups included, against a real SCIM service provider (scim2-server)."""

from __future__ import annotations

import pytest

from filebridge.lms.scim import ScimLms
from tests.lms.contract import GroupContract
from tests.lms.scim.conftest import MakeLms


class TestScimContract(GroupContract):
    @pytest.fixture
    def store(self, make_lms: MakeLms) -> ScimLms:
        return make_lms()


class TestScimContractWithoutBulk(GroupContract):
    """One request per change instead of Bulk requests."""

    @pytest.fixture
    def store(self, make_lms: MakeLms) -> ScimLms:
        return make_lms(bulk=False)
