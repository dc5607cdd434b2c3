"""The examples in the RSA core's docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import rsa_ray

CORE_MODULES = sorted(
    f"rsa_ray.{info.name}" for info in pkgutil.iter_modules(rsa_ray.__path__) if not info.ispkg
) + ["rsa_ray"]


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module_name}"
