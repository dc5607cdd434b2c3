"""Bootstrap of the RSA ranking over resampled probe images, checked against explicit resampling and scipy."""

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import squareform

from rsa_ray import DegenerateInputError, compute_rdms, similarity_to, standardized_ranks
from rsa_ray import bootstrap, resampled_ranks
from rsa_ray.bootstrap import (
    BootstrapSummary,
    bootstrap_rsa_scores,
    bootstrap_scores,
    image_samples,
    pair_weights,
    summarise,
)


def resampled_rdm(condensed: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """The resampled RDM as rsatoolbox builds it: square, NaN diagonal, rows and columns by sample, NaNs dropped."""
    square = squareform(np.asarray(condensed, dtype=np.float64), checks=False)
    np.fill_diagonal(square, np.nan)
    resampled = square[np.ix_(sample, sample)][np.triu_indices(len(sample), k=1)]
    return resampled[~np.isnan(resampled)]


def model_rdms(seed: int, n_models: int = 6, n_images: int = 14, n_features: int = 40) -> np.ndarray:
    """RDMs of models that share a signal, from features with more dimensions (D) than images (N)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n_images, n_features))
    weights = rng.uniform(0.3, 2.0, (n_models, 1, 1))
    features = shared[None] * weights + rng.normal(size=(n_models, n_images, n_features))
    return compute_rdms(features)


RDM_VARIANTS = {
    "float64": lambda rdms: rdms,
    "float32": lambda rdms: rdms.astype(np.float32),
    "many ties": lambda rdms: np.round(rdms, 1),
}


def test_image_samples_draw_sorted_indices_and_repeat_with_a_seed():
    samples = image_samples(20, 7, seed=3)
    assert samples.shape == (7, 20) and samples.dtype == np.int64
    assert samples.min() >= 0 and samples.max() < 20
    assert (np.diff(samples, axis=1) >= 0).all()
    np.testing.assert_array_equal(samples, image_samples(20, 7, seed=3))
    assert not np.array_equal(samples, image_samples(20, 7, seed=4))
    with pytest.raises(ValueError, match="n_images"):
        image_samples(1, 3)
    with pytest.raises(ValueError, match="n_samples"):
        image_samples(5, 0)


def test_pair_weights_count_every_pair_of_distinct_images_in_the_sample():
    n_images = 7
    for sample in image_samples(n_images, 5, seed=0):
        expected = np.zeros(n_images * (n_images - 1) // 2, dtype=np.int64)
        for a, b in itertools.combinations(range(len(sample)), 2):
            i, j = sorted((sample[a], sample[b]))
            if i != j:  # an image with its own copy is no pair
                expected[n_images * i - i * (i + 1) // 2 + (j - i - 1)] += 1
        np.testing.assert_array_equal(pair_weights(sample, n_images), expected)


def test_pair_weights_repeat_the_dissimilarities_rsatoolbox_keeps():
    import rsatoolbox

    rdm = model_rdms(1, n_models=1, n_images=9)[0]
    for sample in image_samples(9, 4, seed=2):
        kept = rsatoolbox.rdm.RDMs(rdm[None]).subsample_pattern("index", sample).dissimilarities[0]
        kept = kept[~np.isnan(kept)]
        np.testing.assert_allclose(np.sort(kept), np.sort(np.repeat(rdm, pair_weights(sample, 9))))


def test_pair_weights_of_several_samples_are_the_rows_of_each():
    samples = image_samples(6, 3, seed=5)
    np.testing.assert_array_equal(pair_weights(samples, 6), np.stack([pair_weights(s, 6) for s in samples]))


@pytest.mark.parametrize("variant", list(RDM_VARIANTS))
def test_scores_equal_scipy_spearman_of_the_resampled_rdms(variant):
    rdms = RDM_VARIANTS[variant](model_rdms(0))
    samples = image_samples(14, 12, seed=1)
    scores = bootstrap_rsa_scores(rdms[1:], rdms[0], samples)
    expected = np.array([[stats.spearmanr(resampled_rdm(candidate, sample), resampled_rdm(rdms[0], sample)).statistic
                          for candidate in rdms[1:]] for sample in samples])
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


def test_scores_equal_scipy_on_values_repeated_by_their_pair_weights():
    rdms = np.round(model_rdms(2, n_images=11), 1)
    samples = image_samples(11, 6, seed=0)
    scores = bootstrap_rsa_scores(rdms[1:], rdms[0], samples)
    for s, sample in enumerate(samples):
        weights = pair_weights(sample, 11)
        for m, candidate in enumerate(rdms[1:]):
            expected = stats.spearmanr(np.repeat(candidate, weights), np.repeat(rdms[0], weights)).statistic
            assert scores[s, m] == pytest.approx(expected, abs=1e-12)


def test_a_sample_of_every_image_once_gives_the_full_sample_spearman():
    rdms = RDM_VARIANTS["many ties"](model_rdms(3))
    scores = bootstrap_rsa_scores(rdms[1:], rdms[0], np.arange(14)[None])
    np.testing.assert_allclose(scores[0], similarity_to(rdms[0], rdms[1:])[0], atol=1e-12)


def test_rank_vectors_give_the_scores_of_their_rdms():
    rdms = np.round(model_rdms(4), 2)
    samples = image_samples(14, 5, seed=9)
    vectors = standardized_ranks(rdms).astype(np.float32)  # as stored
    np.testing.assert_allclose(bootstrap_rsa_scores(vectors[1:], vectors[0], samples),
                               bootstrap_rsa_scores(rdms[1:], rdms[0], samples), atol=1e-12)


def test_threads_chunks_blocks_and_the_float_dot_give_the_same_scores(monkeypatch):
    rdms = np.round(model_rdms(5, n_models=9), 2)
    samples = image_samples(14, 10, seed=2)
    expected = bootstrap_rsa_scores(rdms[1:], rdms[0], samples, workers=1)
    monkeypatch.setattr(bootstrap, "CANDIDATE_CHUNK", 3)
    monkeypatch.setattr(bootstrap, "block_size", lambda length: 4)
    np.testing.assert_allclose(bootstrap_rsa_scores(rdms[1:], rdms[0], samples, workers=2), expected, atol=1e-12)
    monkeypatch.setattr(resampled_ranks, "EXACT_INTEGER_LIMIT", 0.0)
    np.testing.assert_allclose(bootstrap_rsa_scores(rdms[1:], rdms[0], samples, workers=2), expected, atol=1e-12)


def test_a_sample_where_an_rdm_is_constant_names_the_model_and_the_sample():
    rdms = model_rdms(6, n_models=3, n_images=8)
    square = squareform(rdms[1], checks=False)
    square[:3, :3] = 0.5  # constant among images 0, 1, 2
    np.fill_diagonal(square, 0.0)
    rdms[1] = squareform(square, checks=False)
    samples = np.array([np.arange(8), [0, 0, 1, 1, 2, 2, 2, 1]])
    with pytest.raises(DegenerateInputError, match=r"'b'.*bootstrap sample 1"):
        bootstrap_rsa_scores(rdms[1:], rdms[0], samples, names=["b", "c"])
    only_two_images = np.array([[0, 0, 0, 5, 5, 5, 5, 0]])
    with pytest.raises(DegenerateInputError, match=r"'target'.*bootstrap sample 0"):
        bootstrap_rsa_scores(rdms[1:], rdms[0], only_two_images)


def test_bad_inputs_are_refused_naming_them():
    rdms = model_rdms(7, n_models=3, n_images=6)
    samples = image_samples(6, 2, seed=0)
    with pytest.raises(DegenerateInputError, match="'c'.*constant"):
        bootstrap_rsa_scores(np.stack([rdms[1], np.ones(15)]), rdms[0], samples, names=["b", "c"])
    with pytest.raises(DegenerateInputError, match="'target'.*NaN"):
        bootstrap_rsa_scores(rdms[1:], np.full(15, np.nan), samples)
    with pytest.raises(ValueError, match="samples must index 6 images"):
        bootstrap_rsa_scores(rdms[1:], rdms[0], samples + 1)
    with pytest.raises(ValueError, match="integer"):
        bootstrap_rsa_scores(rdms[1:], rdms[0], samples.astype(float))
    with pytest.raises(ValueError, match="target must be one vector of length 15"):
        bootstrap_rsa_scores(rdms[1:], rdms[0, :10], samples)
    with pytest.raises(ValueError, match="got 1 names for 2 candidates"):
        bootstrap_rsa_scores(rdms[1:], rdms[0], samples, names=["b"])
    with pytest.raises(ValueError, match="does not match any number of images"):
        bootstrap_rsa_scores(rdms[1:, :14], rdms[0, :14], samples)


def test_bootstrap_scores_recompute_on_each_sample_rows():
    features = np.random.default_rng(0).normal(size=(10, 3))
    samples = image_samples(10, 4, seed=1)
    seen = []

    def score_one(rows):
        seen.append(rows)
        return features[rows].mean(axis=0)

    scores = bootstrap_scores(score_one, 10, samples)
    np.testing.assert_allclose(scores, np.stack([features[rows].mean(axis=0) for rows in samples]))
    np.testing.assert_array_equal(np.stack(seen), samples)
    assert bootstrap_scores(lambda rows: float(rows.sum()), 10, samples).shape == (4,)


def test_bootstrap_scores_refuse_changing_shapes_and_name_the_failing_sample():
    samples = image_samples(5, 3, seed=0)
    with pytest.raises(ValueError, match="shape"):
        bootstrap_scores(lambda rows: np.zeros(int(rows[0]) + 1), 5, np.array([[0] * 5, [1] * 5]))

    def failing(rows):
        if (rows == rows[0]).all():
            raise DegenerateInputError("m", "features are constant")
        return 1.0

    with pytest.raises(DegenerateInputError, match="'m'") as raised:
        bootstrap_scores(failing, 5, np.vstack([samples[:1], [[2] * 5]]))
    assert "in bootstrap sample 1" in raised.value.__notes__
    with pytest.raises(ValueError, match="samples must index 5 images"):
        bootstrap_scores(lambda rows: 0.0, 5, samples + 5)


def test_summarise_intervals_best_shares_and_the_indistinguishable_set():
    rng = np.random.default_rng(0)
    scores = np.column_stack([
        0.80 + 0.01 * rng.standard_normal(200),  # "top"
        0.79 + 0.01 * rng.standard_normal(200),  # overlaps the top
        0.50 + 0.01 * rng.standard_normal(200),  # clearly below
    ])
    point = np.array([0.80, 0.79, 0.50])
    summary = summarise(scores, point, ["top", "close", "far"], level=0.9)
    assert [s.name for s in summary] == ["top", "close", "far"]
    assert all(isinstance(s, BootstrapSummary) for s in summary)
    for s, column in zip(summary, (0, 1, 2)):
        low, high = np.quantile(scores[:, column], [0.05, 0.95])
        assert (s.low, s.high, s.score) == pytest.approx((low, high, point[column]))
    best = np.argmax(scores, axis=1)
    assert [s.p_best for s in summary] == pytest.approx([np.mean(best == m) for m in range(3)])
    assert summary[0].p_not_below_top == 1.0 and summary[0].indistinguishable_from_top
    assert summary[1].p_not_below_top == pytest.approx(np.mean(scores[:, 1] >= scores[:, 0]))
    assert summary[1].indistinguishable_from_top and not summary[2].indistinguishable_from_top


def test_summarise_splits_tied_bests_and_counts_alpha_half_at_the_boundary():
    # 40 samples, level 0.9: alpha / 2 = 0.05, i.e. 2 samples.
    scores = np.zeros((40, 3))
    scores[:, 0] = 1.0
    scores[:2, 1] = 1.0   # ties the top in exactly 2 samples: indistinguishable
    scores[:1, 2] = 1.0   # in 1 sample only: distinguishable
    summary = {s.name: s for s in summarise(scores, [1.0, 0.0, 0.0], ["a", "b", "c"], level=0.9)}
    assert summary["b"].indistinguishable_from_top and not summary["c"].indistinguishable_from_top
    # Sample 0: three-way tie, sample 1: a and b tie, the rest: a alone.
    assert summary["a"].p_best == pytest.approx((1 / 3 + 1 / 2 + 38) / 40)
    assert summary["b"].p_best == pytest.approx((1 / 3 + 1 / 2) / 40)
    assert summary["c"].p_best == pytest.approx((1 / 3) / 40)
    assert sum(s.p_best for s in summary.values()) == pytest.approx(1.0)


def test_summarise_refuses_undefined_scores_naming_the_candidate():
    scores = np.ones((5, 2))
    scores[[1, 3], 1] = np.nan
    with pytest.raises(DegenerateInputError, match=r"'b'.*undefined.*2 of 5 bootstrap samples"):
        summarise(scores, [1.0, 1.0], ["a", "b"])
    with pytest.raises(DegenerateInputError, match="'a'.*full-sample"):
        summarise(np.ones((5, 2)), [np.nan, 1.0], ["a", "b"])
    with pytest.raises(ValueError, match="level"):
        summarise(np.ones((5, 2)), [1.0, 1.0], ["a", "b"], level=1.0)
    with pytest.raises(ValueError, match="unique"):
        summarise(np.ones((5, 2)), [1.0, 1.0], ["a", "a"])
    with pytest.raises(ValueError, match=r"\[S, M\]"):
        summarise(np.ones((5, 2)), [1.0], ["a", "b"])
