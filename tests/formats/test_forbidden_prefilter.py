"""The whole-file check for control and invisible characters, fast path and slow path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from filebridge.formats.table import _FORBIDDEN_PY, FORBIDDEN_CHARACTERS, has_forbidden

# Ordinary text, text with E2/EF-led characters that are allowed (’ – € ﬁ), and the
# forbidden ones themselves.
pieces = st.sampled_from(["a", "Zoë", ",", "\n", "\t", "\r\n", "’", "–", "€", "ﬁ", "\ufffd",
                          *FORBIDDEN_CHARACTERS])


@given(st.lists(pieces, max_size=30), st.lists(pieces, max_size=5))
def test_has_forbidden_agrees_with_the_regex(body_parts, header_parts):
    header = "".join(header_parts).encode()
    body = header + "".join(body_parts).encode()
    expected = _FORBIDDEN_PY.search(body[len(header):].decode()) is not None
    assert has_forbidden(body, len(header)) is expected


def test_a_plain_file_takes_the_byte_filter_only():
    assert has_forbidden("id,name\n1,José Müller\n".encode()) is False
    assert has_forbidden("id,name\n1,O’Brien\n".encode()) is False
    assert has_forbidden("id,name\n1,Eve\u202e\n".encode()) is True
    assert has_forbidden(b"id,name\n1,Bell\x07\n") is True
