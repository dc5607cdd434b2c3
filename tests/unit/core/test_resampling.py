"""Subsampling without replacement: reference tests, intervals that hold their point values, coverage on simulated zoos."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import squareform

from rsa_ray import DegenerateInputError, compute_rdms
from rsa_ray.bootstrap import bootstrap_rsa_scores, bootstrap_scores, image_samples, summarise
from rsa_ray.branch_support import bootstrap_similarity
from rsa_ray.estimators import ESTIMATORS, score_features
from rsa_ray.resampling import image_subsamples, subsample_scale, subsample_summary
from rsa_ray.target_labels import TargetLabels

# --- the subsamples ---------------------------------------------------------------------------------------


def test_subsamples_hold_distinct_sorted_indices_and_repeat_with_a_seed():
    samples = image_subsamples(21, 300, seed=4)
    assert samples.shape == (300, 10) and samples.dtype == np.int64
    assert (np.diff(samples, axis=1) > 0).all()  # sorted and without repeats
    assert samples.min() >= 0 and samples.max() < 21
    np.testing.assert_array_equal(samples, image_subsamples(21, 300, seed=4))
    assert not np.array_equal(samples, image_subsamples(21, 300, seed=5))
    assert image_subsamples(21, 3, seed=0, size=20).shape == (3, 20)
    # Every image is drawn with chance m/n: 300 * 10/21 = 142.9 draws each, sd about 8.6.
    counts = np.bincount(samples.ravel(), minlength=21)
    assert np.abs(counts - 300 * 10 / 21).max() < 40
    # Every subset of a tiny set is reachable, with about equal frequency.
    rows = {tuple(row) for row in image_subsamples(4, 600, seed=0)}
    assert rows == {(a, b) for a in range(4) for b in range(a + 1, 4)}


@pytest.mark.parametrize("arguments, message", [
    ((1, 5), "n_images must be at least 2"),
    ((10, 0), "n_samples must be at least 1"),
    ((10, 5, 0, 10), r"size must be in 1\.\.9"),
    ((10, 5, 0, 0), r"size must be in 1\.\.9"),
])
def test_bad_subsample_requests_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        image_subsamples(*arguments)


def test_subsample_scale_is_the_variance_ratio_of_means_without_replacement():
    # The variance of the mean of m of n values drawn without replacement, against that of all n
    # (a sample from a population): Var_n / Var_m = (1/n) / ((1/m - 1/n)) = m / (n - m).
    rng = np.random.default_rng(0)
    values = rng.normal(size=40)
    draws = np.array([values[rng.choice(40, 10, replace=False)].mean() for _ in range(20000)])
    spread_of_full_mean = values.std() / np.sqrt(40)
    assert spread_of_full_mean / draws.std() == pytest.approx(subsample_scale(40, 10), rel=0.03)
    assert subsample_scale(40, 20) == 1.0
    with pytest.raises(ValueError, match="subsample_size must be in 1..39"):
        subsample_scale(40, 40)


# --- the summary against a plain loop ---------------------------------------------------------------------


def plain_quantile(values, q):
    """numpy's default ('linear') quantile, written out."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    below = int(np.floor(position))
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def plain_summary(scores, point, names, n_images, size, level):
    n_samples, n_candidates = len(scores), len(scores[0])
    scale = np.sqrt(size / (n_images - size))
    top = max(range(n_candidates), key=lambda k: (point[k], -k))
    tail = (1 - level) / 2
    rows = []
    for k in range(n_candidates):
        column = [scores[s][k] for s in range(n_samples)]
        adjusted = [point[k] + scale * (value - plain_quantile(column, 0.5)) for value in column]
        differences = [scores[s][k] - scores[s][top] for s in range(n_samples)]
        centre = plain_quantile(differences, 0.5)
        paired = [point[k] - point[top] + scale * (d - centre) for d in differences]
        not_below = 1.0 if k == top else sum(p >= 0 for p in paired) / n_samples
        rows.append([names[k], point[k], plain_quantile(adjusted, tail), plain_quantile(adjusted, 1 - tail), 0.0,
                     not_below, k == top or not_below >= tail])
    for s in range(n_samples):
        values = [0.0 if k == top else point[k] - point[top] + scale * (
            scores[s][k] - scores[s][top] - plain_quantile([scores[t][k] - scores[t][top] for t in range(n_samples)], 0.5))
            for k in range(n_candidates)]
        best = [k for k in range(n_candidates) if values[k] == max(values)]
        for k in best:
            rows[k][4] += 1 / len(best) / n_samples
    return sorted(rows, key=lambda row: -row[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_subsample_summary_equals_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    point = rng.normal(size=5)
    scores = point + 3.0 + rng.normal(scale=0.4, size=(37, 5))  # shifted away from the point values
    scores[:, 3] = np.round(scores[:, 3], 1)  # ties within a column
    names = list("abcde")
    ours = subsample_summary(scores, point, names, n_images=50, subsample_size=20, level=0.9)
    theirs = plain_summary(scores.tolist(), point.tolist(), names, 50, 20, 0.9)
    for summary, row in zip(ours, theirs):
        assert summary.name == row[0] and summary.score == row[1]
        assert summary.low == pytest.approx(row[2], abs=1e-12) and summary.high == pytest.approx(row[3], abs=1e-12)
        assert summary.p_best == pytest.approx(row[4], abs=1e-12)
        assert summary.p_not_below_top == pytest.approx(row[5], abs=1e-12)
        assert summary.indistinguishable_from_top == row[6]
        assert summary.low <= summary.score <= summary.high


def test_a_candidate_far_below_the_top_gets_no_chance_of_being_best_even_when_its_subsamples_are_inflated():
    rng = np.random.default_rng(3)
    point = np.array([1.0, 0.9, -5.0])
    scores = np.column_stack([rng.normal(1.0, 0.1, 60), rng.normal(0.9, 0.1, 60), rng.normal(8.0, 0.1, 60)])
    by_name = {s.name: s for s in subsample_summary(scores, point, ["a", "b", "worst"], 100, 50)}
    assert by_name["worst"].p_best == 0.0 and not by_name["worst"].indistinguishable_from_top
    assert by_name["worst"].low <= -5.0 <= by_name["worst"].high < 0
    # The percentile bootstrap on the same numbers would call the worst the best every time.
    assert {s.name: s.p_best for s in summarise(scores, point, ["a", "b", "worst"])}["worst"] == 1.0


def test_subsample_summary_refuses_bad_input():
    with pytest.raises(ValueError, match="subsample_size must be in 1..9"):
        subsample_summary(np.zeros((3, 2)), [0.0, 1.0], "ab", 10, 10)
    with pytest.raises(ValueError, match="level must be in"):
        subsample_summary(np.zeros((3, 2)), [0.0, 1.0], "ab", 10, 5, level=1.0)
    with pytest.raises(DegenerateInputError, match="'b'"):
        subsample_summary(np.array([[0.0, np.nan]]), [0.0, 1.0], "ab", 10, 5)


# --- the RSA kernels on subsamples --------------------------------------------------------------------------


def sub_rdm(condensed, rows):
    return squareform(squareform(np.asarray(condensed, dtype=np.float64), checks=False)[np.ix_(rows, rows)], checks=False)


def subsample_rdms(seed, n_models=5, n_images=16, n_features=40, decimals=None):
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n_images, n_features))
    rdms = compute_rdms(shared[None] * rng.uniform(0.3, 2.0, (n_models, 1, 1)) + rng.normal(size=(n_models, n_images, n_features)))
    return rdms if decimals is None else np.round(rdms, decimals)


@pytest.mark.parametrize("decimals", [None, 1])
def test_rsa_scores_on_subsamples_equal_scipy_spearman_of_the_sub_rdms(decimals):
    rdms = subsample_rdms(0, decimals=decimals)
    samples = image_subsamples(16, 9, seed=2)
    scores = bootstrap_rsa_scores(rdms[1:], rdms[0], samples)
    expected = [[stats.spearmanr(sub_rdm(candidate, rows), sub_rdm(rdms[0], rows)).statistic for candidate in rdms[1:]]
                for rows in samples]
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


def test_similarity_on_subsamples_equals_scipy_spearman_of_the_sub_rdms():
    rdms = subsample_rdms(1, n_models=4, decimals=2)
    samples = image_subsamples(16, 4, seed=3, size=11)
    similarity = bootstrap_similarity(rdms, samples)
    for s, rows in enumerate(samples):
        expected = stats.spearmanr(np.stack([sub_rdm(rdm, rows) for rdm in rdms]), axis=1).statistic
        np.testing.assert_allclose(similarity[s], expected, atol=1e-12)


# --- every estimator's interval holds its point value ---------------------------------------------------


def candidate_zoo(n_images, n_features, seed, n_candidates=3, n_classes=3):
    """Candidates whose features carry a class signal of decreasing strength, plus a target model's features."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n_images) % n_classes
    rng.shuffle(classes)
    means = rng.normal(size=(n_classes, n_features))
    features = [w * means[classes] + rng.normal(size=(n_images, n_features))
                for w in np.linspace(1.0, 0.3, n_candidates)]
    target = 2.0 * means[classes][:, :8] + rng.normal(size=(n_images, 8))
    return features, classes, target


def subsample_and_point_scores(name, features, labels, target, samples):
    def score(rows, index):
        return score_features(name, features[index][rows], labels.subset(rows), model=f"m{index}", image_ids=rows,
                              target_features=None if target is None else target[rows])

    point = np.array([score(np.arange(labels.n_images), index) for index in range(len(features))])
    sampled = bootstrap_scores(lambda rows: [score(rows, index) for index in range(len(features))], labels.n_images, samples)
    return point, sampled


@pytest.mark.parametrize("n_features", [8, 200], ids=["narrow", "wide"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_every_estimators_interval_holds_its_point_value(name, n_features):
    features, classes, target = candidate_zoo(60, n_features, seed=len(name) + n_features)
    labels = TargetLabels.from_array(classes)
    samples = image_subsamples(60, 9, seed=1)
    point, sampled = subsample_and_point_scores(name, features, labels, target, samples)
    summaries = subsample_summary(sampled, point, ["m0", "m1", "m2"], 60, 30)
    for summary in summaries:
        assert summary.low <= summary.score <= summary.high, (name, summary)
    assert summaries[0].indistinguishable_from_top and summaries[0].p_not_below_top == 1.0


@pytest.mark.parametrize("name", [name for name, e in ESTIMATORS.items() if "regression" in e.kinds and e.reads == "labels"])
def test_regression_estimators_intervals_hold_their_point_values_on_wide_features(name):
    rng = np.random.default_rng(7)
    signal = rng.normal(size=(60, 2))
    features = [w * signal @ rng.normal(size=(2, 150)) + rng.normal(size=(60, 150)) for w in (1.0, 0.5)]
    labels = TargetLabels.from_array(signal + 0.3 * rng.normal(size=(60, 2)))
    point, sampled = subsample_and_point_scores(name, features, labels, None, image_subsamples(60, 9, seed=2))
    for summary in subsample_summary(sampled, point, ["m0", "m1"], 60, 30):
        assert summary.low <= summary.score <= summary.high, (name, summary)


def test_draws_with_replacement_inflate_logme_on_wide_features_past_its_point_value():
    # What the subsamples avoid: copies of images look like more evidence to LogME when D > N.
    features, classes, _ = candidate_zoo(60, 200, seed=11, n_candidates=2)
    labels = TargetLabels.from_array(classes)
    point, with_copies = subsample_and_point_scores("logme", features, labels, None, image_samples(60, 9, seed=0))
    assert (with_copies.min(axis=0) > point).all()
    assert all(s.low > s.score for s in summarise(with_copies, point, ["m0", "m1"]))


# --- coverage on simulated zoos whose true order is known -------------------------------------------------

ZOO_WEIGHTS = np.array([1.0, 0.85, 0.7, 0.4])  # the class signal in each candidate's features: the true order
ZOO_IMAGES, ZOO_CLASSES, ZOO_FEATURES = 80, 3, 10
ZOO_MEANS = np.random.default_rng(1234).normal(size=(ZOO_CLASSES, ZOO_FEATURES))


def simulated_zoo(rng):
    """One target's images: features ``w_k * mean[class] + noise``, half the noise shared by the candidates."""
    classes = rng.integers(0, ZOO_CLASSES, ZOO_IMAGES)
    shared = rng.normal(size=(ZOO_IMAGES, ZOO_FEATURES))
    features = [w * ZOO_MEANS[classes] + np.sqrt(0.5) * (shared + rng.normal(size=(ZOO_IMAGES, ZOO_FEATURES)))
                for w in ZOO_WEIGHTS]
    return features, TargetLabels.from_array(classes)


def test_coverage_of_intervals_and_of_the_top_set_on_simulated_zoos():
    name, level, n_zoos, n_samples = "hscore-shrinkage", 0.95, 40, 40
    # The true value: the score's mean over 200 fresh draws of the images, at the full sample size.
    truth_rng = np.random.default_rng(99)
    truth = np.mean([[score_features(name, f, labels) for f in features]
                     for features, labels in (simulated_zoo(truth_rng) for _ in range(200))], axis=0)
    assert (np.diff(truth) < 0).all()  # the construction's order is the score's true order
    names = [f"w={w}" for w in ZOO_WEIGHTS]
    holds, best_in_top_set, top_set_sizes, last_p_best = 0, 0, [], []
    for zoo in range(n_zoos):
        features, labels = simulated_zoo(np.random.default_rng(zoo))
        point = np.array([score_features(name, f, labels) for f in features])
        samples = image_subsamples(ZOO_IMAGES, n_samples, seed=zoo)
        sampled = bootstrap_scores(lambda rows: [score_features(name, f[rows], labels.subset(rows), image_ids=rows)
                                                 for f in features], ZOO_IMAGES, samples)
        summaries = subsample_summary(sampled, point, names, ZOO_IMAGES, ZOO_IMAGES // 2, level)
        by_name = {s.name: s for s in summaries}
        holds += sum(by_name[n].low <= t <= by_name[n].high for n, t in zip(names, truth))
        best_in_top_set += by_name[names[0]].indistinguishable_from_top
        top_set_sizes.append(sum(s.indistinguishable_from_top for s in summaries))
        last_p_best.append(summaries[-1].p_best)
    interval_coverage = holds / (n_zoos * len(names))
    top_set_coverage = best_in_top_set / n_zoos
    print(f"\n{name} on {n_zoos} simulated zoos, nominal {level}: intervals hold the true value {interval_coverage:.3f}, "
          f"the top set holds the true best {top_set_coverage:.3f} (mean size {np.mean(top_set_sizes):.2f} of "
          f"{len(names)}), last-ranked P(best) at most {max(last_p_best):.3f}")
    assert interval_coverage >= 0.85
    assert top_set_coverage >= 0.85
    assert np.mean(top_set_sizes) < len(names)  # the set is not everything: the zoo can be decided in part
    assert max(last_p_best) <= 0.05
