"""The LMS contract against a real SCIM service provider (scim2-server)."""

from __future__ import annotations

import pytest

from filebridge.lms.scim import ScimLms
from tests.lms.lms_contract import LmsContract
from tests.lms.scim.conftest import MakeLms


class TestScimContract(LmsContract):
    @pytest.fixture
    def lms(self, make_lms: MakeLms) -> ScimLms:
        return make_lms()


class TestScimContractWithoutBulk(LmsContract):
    """One request per change instead of Bulk requests."""

    @pytest.fixture
    def lms(self, make_lms: MakeLms) -> ScimLms:
        return make_lms(bulk=False)
