"""Linear CKA against the feature-space formula."""

import numpy as np
import pytest

from rsa_ray import DegenerateInputError, cka_matrix, linear_cka
from tests.unit.core.oracles import linear_cka_feature_space


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def test_cka_matrix_equals_the_feature_space_formula(rng):
    base = rng.normal(size=(40, 12))
    models = [base @ rng.normal(size=(12, d)) + rng.normal(scale=s, size=(40, d)) for d, s in [(5, 0.1), (30, 1.0), (8, 3.0), (1, 0.5)]]
    matrix = cka_matrix(models, block_size=3)
    for i in range(4):
        for j in range(4):
            assert matrix[i, j] == pytest.approx(linear_cka_feature_space(models[i], models[j]), abs=1e-12)


def test_cka_invariances(rng):
    x = rng.normal(size=(25, 6))
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, rng.normal(size=(25, 6))) < 0.9


def test_constant_features_and_nan_are_named(rng):
    x = rng.normal(size=(10, 4))
    with pytest.raises(DegenerateInputError, match="'flat'.*same for every image"):
        cka_matrix([x, np.ones((10, 3))], names=["ok", "flat"])
    bad = x.copy()
    bad[7, 0] = np.nan
    with pytest.raises(DegenerateInputError, match="'#1'.*NaN or Inf.*images 7"):
        cka_matrix([x, bad])
    with pytest.raises(ValueError, match="9 images, expected 10"):
        cka_matrix([x, x[:9]])
