"""The ``>>>`` examples in the storage modules' docstrings run and print what they claim."""

import doctest
import importlib
import pkgutil

import pytest

import storage

MODULES = sorted(info.name for info in pkgutil.iter_modules(storage.__path__, "storage."))


@pytest.mark.parametrize("name", ["storage", *MODULES])
def test_docstring_examples(name):
    results = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert results.failed == 0
