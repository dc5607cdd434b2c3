"""Layer reductions against explicit numpy loops on seeded random outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsa_ray.models.reductions import check_reduction, reduce_activation, reduced_width

RNG = np.random.default_rng(0)
MAPS = RNG.normal(size=(3, 4, 7, 5)).astype(np.float32)     # [images, channels, H, W]
TOKENS = RNG.normal(size=(3, 6, 8)).astype(np.float32)      # [images, tokens, dim]


def _loop_flatten(maps):
    return np.array([[value for value in image.ravel()] for image in maps])


def _loop_pool(maps, pick):
    out = np.zeros(maps.shape[:2])
    for m in range(maps.shape[0]):
        for c in range(maps.shape[1]):
            out[m, c] = pick([maps[m, c, i, j] for i in range(maps.shape[2]) for j in range(maps.shape[3])])
    return out


def _loop_adaptive(maps, k):
    """torch's adaptive average pooling: bin i covers floor(i*H/k) .. ceil((i+1)*H/k)."""
    m_count, channels, height, width = maps.shape
    out = np.zeros((m_count, channels, k, k))
    for m in range(m_count):
        for c in range(channels):
            for i in range(k):
                for j in range(k):
                    rows = range((i * height) // k, -(-((i + 1) * height) // k))
                    cols = range((j * width) // k, -(-((j + 1) * width) // k))
                    out[m, c, i, j] = np.mean([maps[m, c, r, q] for r in rows for q in cols])
    return out.reshape(m_count, -1)


@pytest.mark.parametrize(("reduction", "expected"), [
    ("flatten", _loop_flatten(MAPS)),
    ("avg", _loop_pool(MAPS, np.mean)),
    ("max", _loop_pool(MAPS, np.max)),
    ("adaptive:1", _loop_pool(MAPS, np.mean)),
    ("adaptive:2", _loop_adaptive(MAPS, 2)),
    ("adaptive:3", _loop_adaptive(MAPS, 3)),
])
def test_map_reductions_match_loops(reduction, expected):
    reduced = reduce_activation(torch.from_numpy(MAPS), reduction).numpy()
    np.testing.assert_allclose(reduced, expected, rtol=1e-5, atol=1e-6)
    assert reduced_width(MAPS.shape, reduction) == expected.shape[1]


def test_token_reductions_match_loops():
    cls = np.array([[TOKENS[m, 0, d] for d in range(TOKENS.shape[2])] for m in range(TOKENS.shape[0])])
    mean = np.array([[np.mean([TOKENS[m, t, d] for t in range(TOKENS.shape[1])]) for d in range(TOKENS.shape[2])]
                     for m in range(TOKENS.shape[0])])
    np.testing.assert_allclose(reduce_activation(torch.from_numpy(TOKENS), "cls").numpy(), cls)
    np.testing.assert_allclose(reduce_activation(torch.from_numpy(TOKENS), "tokens-mean").numpy(), mean, rtol=1e-5)


def test_vectors_are_kept_and_token_reductions_need_tokens():
    vectors = torch.from_numpy(RNG.normal(size=(3, 10)).astype(np.float32))
    for reduction in ("flatten", "avg", "max", "adaptive:2"):
        assert torch.equal(reduce_activation(vectors, reduction), vectors)
    with pytest.raises(ValueError, match=r"'cls' needs a token output"):
        reduce_activation(torch.from_numpy(MAPS), "cls")


@pytest.mark.parametrize("name", ["mean", "adaptive:0", "adaptive:x", "adaptive:", "adaptive:K", 3, None])
def test_unknown_reductions_are_refused_with_the_list(name):
    with pytest.raises(ValueError, match="flatten, avg, max, adaptive:K, cls, tokens-mean"):
        check_reduction(name)
