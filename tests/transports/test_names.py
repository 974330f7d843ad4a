"""Remote-name safety: ordinary export names pass, hostile ones are refused with a reason."""

from __future__ import annotations

import unicodedata

import pytest

from filebridge.transports.errors import HostileName
from filebridge.transports.names import check_name, is_ignored, matches, name_problem

from .contract import HOSTILE_NOT_ON_DISK, HOSTILE_ON_DISK

FINE = [
    "acme_employees_20261125.csv",
    "employees.csv",
    "HR Export 2026-11-25.csv",
    "Zoë_export.csv",
    unicodedata.normalize("NFD", "Zoë_export.csv"),  # macOS writes decomposed names
    "данные.csv",
    "社員.csv",
    "a..b.csv",
    "x" * 251 + ".csv",
]


@pytest.mark.parametrize("name", FINE)
def test_ordinary_names_pass(name: str) -> None:
    assert name_problem(name) is None
    assert check_name(name) == name


@pytest.mark.parametrize("name", HOSTILE_ON_DISK + HOSTILE_NOT_ON_DISK)
def test_hostile_names_are_refused(name: str) -> None:
    assert name_problem(name) is not None
    with pytest.raises(HostileName) as err:
        check_name(name)
    assert err.value.reason == name_problem(name)
    assert err.value.name.isascii()  # shown escaped: a bidi name cannot reorder the message


def test_undecodable_bytes_are_refused() -> None:
    assert name_problem(b"caf\xe9.csv".decode("utf-8", "surrogateescape")) == "not-utf8"


@pytest.mark.parametrize(
    "name", ["a.csv.tmp", "a.csv.part", ".a.csv", ".DS_Store", "x.filepart", "A.CSV.TMP"]
)
def test_temporary_and_dot_files_are_ignored(name: str) -> None:
    assert is_ignored(name)


def test_pattern_is_case_sensitive_everywhere() -> None:
    assert matches("acme_1.csv", "acme_*.csv")
    assert not matches("ACME_1.CSV", "acme_*.csv")
