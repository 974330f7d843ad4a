"""The spool copy is hashed while it is written: one read of the file, a name from the
bytes actually copied, nothing half-written left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

from filebridge.pipeline.spool import spool_file


def test_the_copy_is_named_by_the_hash_of_its_bytes(tmp_path: Path) -> None:
    source = tmp_path / "in" / "Export.CSV"
    source.parent.mkdir()
    data = b"id,name\n" + b"1,x\n" * 300_000  # several read chunks
    source.write_bytes(data)
    spool = tmp_path / "spool"
    sha256, size, spooled = spool_file(source, spool)
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert spooled == spool / f"{sha256}.csv"
    assert spooled.read_bytes() == data
    assert [p.name for p in spool.iterdir()] == [spooled.name]  # no .part left


def test_spooling_again_keeps_the_first_copy(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_bytes(b"id\n1\n")
    spool = tmp_path / "spool"
    first = spool_file(source, spool)
    mtime = first[2].stat().st_mtime_ns
    assert spool_file(source, spool) == first
    assert first[2].stat().st_mtime_ns == mtime
    # The spooled copy itself (a replay) is only hashed, never copied onto itself.
    assert spool_file(first[2], spool) == first
    assert sorted(p.name for p in spool.iterdir()) == [first[2].name]


def test_a_file_in_the_spool_folder_under_another_name_is_spooled(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    odd = spool / "dropped.csv"
    odd.write_bytes(b"id\n2\n")
    sha256, _, spooled = spool_file(odd, spool)
    assert spooled.name == f"{sha256}.csv" and spooled.read_bytes() == b"id\n2\n"
