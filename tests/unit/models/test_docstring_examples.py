"""The examples in the docstrings of rsa_ray.model_entry, rsa_ray.models, rsa_ray.datasets, rsa_ray.training and the
train-zoo modules run."""

import doctest
import importlib
import pkgutil

import pytest

import rsa_ray.datasets
import rsa_ray.model_entry
import rsa_ray.models
import rsa_ray.training

MODULES = sorted(
    f"{package.__name__}.{info.name}"
    for package in (rsa_ray.model_entry, rsa_ray.models, rsa_ray.datasets, rsa_ray.training)
    for info in pkgutil.iter_modules(package.__path__)
) + ["jobs.train_zoo", "cluster.train_zoo"]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module_name}"
