"""RDMs from column blocks against compute_rdm on the whole matrix."""

import numpy as np
import pytest

from rsa_ray.blockwise_rdm import compute_rdm_from_blocks
from rsa_ray.errors import DegenerateInputError
from rsa_ray.rdm import compute_rdm


def blocks_of(features, columns):
    edges = [*range(0, features.shape[1], columns), features.shape[1]]
    return [features[:, a:b] for a, b in zip(edges, edges[1:])]


@pytest.mark.parametrize("distance", ["correlation", "cosine", "euclidean"])
@pytest.mark.parametrize("center_features", [True, False])
@pytest.mark.parametrize("columns", [1, 7, 64, 1000])
def test_blocks_give_compute_rdm_on_the_whole_matrix_with_more_features_than_images(distance, center_features, columns):
    rng = np.random.default_rng(columns)
    features = np.maximum(rng.normal(0.3, 1.0, size=(23, 517)), 0).astype(np.float32)  # ReLU-like, D > M
    blocks = blocks_of(features, columns)

    from_blocks = compute_rdm_from_blocks(blocks.__getitem__, len(blocks), distance, center_features)

    np.testing.assert_allclose(from_blocks, compute_rdm(features, distance, center_features), rtol=0, atol=1e-10)


def test_rows_with_a_large_offset_take_the_second_pass_and_still_agree():
    rng = np.random.default_rng(1)
    features = (1e4 + 1e-2 * rng.normal(size=(12, 300))).astype(np.float64)
    blocks = blocks_of(features, 40)

    from_blocks = compute_rdm_from_blocks(blocks.__getitem__, len(blocks), center_features=False)

    np.testing.assert_allclose(from_blocks, compute_rdm(features, center_features=False), rtol=0, atol=1e-10)


def test_a_constant_image_is_named():
    features = np.random.default_rng(2).normal(size=(5, 40))
    features[3] = 1.0
    blocks = blocks_of(features, 16)
    with pytest.raises(DegenerateInputError, match="net"):
        compute_rdm_from_blocks(blocks.__getitem__, len(blocks), center_features=False, name="net")


def test_unknown_distance_and_no_blocks_are_refused():
    with pytest.raises(ValueError, match="manhattan"):
        compute_rdm_from_blocks(lambda index: np.zeros((2, 2)), 1, "manhattan")
    with pytest.raises(ValueError, match="at least one block"):
        compute_rdm_from_blocks(lambda index: np.zeros((2, 2)), 0)
