"""Ids are safe names, never paths: bad ones are rejected with a message naming them."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage import EntryKey, InvalidIdError, validate_id

BAD_IDS = ["../x", "a/b", "", "x" * 300, "modèle", "..", ".hidden", "a..b", "a b", "a\\b", "-lead", "\x00"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_are_rejected_naming_the_input(bad):
    with pytest.raises(InvalidIdError) as error:
        validate_id(bad, "model id")
    message = str(error.value)
    assert "model id" in message
    if bad:
        assert repr(bad[:40]).strip("'") in message


@pytest.mark.parametrize("bad", [None, 3, b"abc"])
def test_non_strings_are_rejected(bad):
    with pytest.raises(InvalidIdError, match="must be a string"):
        validate_id(bad, "layer")


@pytest.mark.parametrize("good", ["m1", "resnet50.block4", "A-b_c.9", "x" * 128, "0"])
def test_good_ids_pass_unchanged(good):
    assert validate_id(good) == good


@pytest.mark.parametrize("field", ["probe_id", "model_id", "layer"])
def test_entry_key_validates_every_part(field):
    parts = {"probe_id": "p", "model_id": "m", "layer": "l", field: "../escape"}
    with pytest.raises(InvalidIdError, match=re.escape("'../escape'")):
        EntryKey(**parts)


@given(st.text(max_size=140))
def test_accepted_ids_are_exactly_single_safe_path_components(text):
    """Against an obviously right reference: ASCII [A-Za-z0-9._-], alnum first, no '..', <= 128 chars."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    expected_ok = (
        0 < len(text) <= 128 and set(text) <= allowed and text[0].isascii() and text[0].isalnum() and ".." not in text
    )
    try:
        validate_id(text)
        accepted = True
    except InvalidIdError:
        accepted = False
    assert accepted == expected_ok
