"""The byte-count rule shared by a declared weights size and the operator's weights size limits."""

from __future__ import annotations

import pytest

from rsa_ray.model_entry.specs import WeightsRef, is_byte_count
from storage.settings import StoreSettings
from storage.weights_policy import WeightsPolicy


@pytest.mark.parametrize("value", [1, 2**40])
def test_a_positive_int_is_a_byte_count(value):
    assert is_byte_count(value) is True


@pytest.mark.parametrize("value", [0, -1, True, False, 1.0, "1", None])
def test_anything_else_is_not_a_byte_count(value):
    assert is_byte_count(value) is False


@pytest.mark.parametrize("value", [0, -1, True, 1.0, "1"])
def test_each_size_field_refuses_what_is_not_a_byte_count(value):
    with pytest.raises(ValueError, match=r"size of 'w.safetensors' must be a whole number of bytes > 0"):
        WeightsRef("w.safetensors", "0" * 64, value)
    with pytest.raises(ValueError, match=r"max_weights_size must be a positive whole number of bytes"):
        StoreSettings(max_weights_size=value)
    with pytest.raises(ValueError, match=r"max_size must be a positive whole number of bytes"):
        WeightsPolicy(max_size=value)


def test_each_size_field_keeps_a_byte_count():
    assert WeightsRef("w.safetensors", "0" * 64, 2**40).size == 2**40
    assert StoreSettings(max_weights_size=1).max_weights_size == 1
    assert WeightsPolicy(max_size=1).max_size == 1
