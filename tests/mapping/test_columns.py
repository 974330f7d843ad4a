"""Column steps: the Arrow fast paths give exactly what the general pandas paths give."""

from __future__ import annotations

import string

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from filebridge.mapping.columns import (
    _canonical_unicode_emails,
    canonical_emails,
    render_template,
)

# Addresses and near-addresses: case, blanks at either end, inner blanks, newlines,
# several @, dots in odd places, and a few non-ASCII letters that send a column down
# the Unicode path.
email_text = st.text(st.sampled_from(list("aZz09.+-_'@ \t\n\x0bé") + ["\u00a0", "Ａ"]),
                     max_size=14)
ascii_email_text = st.text(st.sampled_from(list("aZz09.+-_'@ \t\n\x0b")), max_size=14)


@given(st.lists(ascii_email_text, max_size=25))
def test_ascii_emails_take_the_fast_path_with_the_general_answer(items):
    values = pd.Series(items, dtype="str", index=pd.RangeIndex(3, 3 + len(items)))
    canon, bad = canonical_emails(values)
    want_canon, want_bad = _canonical_unicode_emails(values.str.strip())
    pd.testing.assert_series_equal(canon, want_canon)
    assert bad.index.equals(values.index)
    assert bad.tolist() == want_bad.tolist()


@given(st.lists(email_text, max_size=25))
def test_any_email_column_agrees_with_the_general_path(items):
    values = pd.Series(items, dtype="str")
    canon, bad = canonical_emails(values)
    want_canon, want_bad = _canonical_unicode_emails(values.str.strip())
    assert canon.tolist() == want_canon.tolist() and bad.tolist() == want_bad.tolist()


names = st.text(st.sampled_from(list("Ab é,.'") + ["\u00a0", "\t"]), max_size=8)


@given(st.lists(st.tuples(names, names), max_size=20),
       st.sampled_from(["{a} {b}", "{a}", "Dr. {b}, {a} ", "{a}{b}", " x ", ""]))
def test_template_is_the_concatenation_of_its_parts_trimmed(rows, template):
    index = pd.RangeIndex(5, 5 + len(rows))
    columns = {"a": pd.Series([r[0] for r in rows], dtype="str", index=index),
               "b": pd.Series([r[1] for r in rows], dtype="str", index=index)}
    got = render_template(template, columns, index)
    # The row-wise meaning: each part in order, then blanks trimmed at both ends.
    want = pd.Series("", index=index, dtype="str")
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        want = want + literal if literal else want
        want = want + columns[name] if name else want
    pd.testing.assert_series_equal(got, want.str.strip())

