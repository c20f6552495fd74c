"""transforms.system_one.escaping: escaping and unescaping of names and values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.system_one.escaping import escape_element, escape_name, escape_value, unescape


@given(st.text())
def test_escape_round_trips_any_text(text):
    for escape in (escape_value, escape_name, escape_element):
        escaped = escape(text)
        assert unescape(escaped) == text
        assert "|" not in escaped and "=" not in escaped
        assert escaped.splitlines() == [escaped] or escaped == ""
    assert "." not in escape_name(text)
    assert ";" not in escape_element(text)


@given(st.text(st.sampled_from("\\\\pedsnrtNux0A|;")))
def test_fast_unescape_agrees_with_the_regex(text):
    from transforms.system_one import escaping

    try:
        expected = escaping._UNESCAPE_RE.sub(escaping._unescape_match, text)
    except ValueError:
        expected = None
    try:
        actual = unescape(text)
    except ValueError:
        actual = None
    assert actual == expected


@pytest.mark.parametrize("text", ["\\", "a\\", "\\x", "\\u12", "\\u12G4", "\\uD800", "a\\Nb", "\\ "])
def test_unescape_rejects(text):
    with pytest.raises(ValueError):
        unescape(text)
