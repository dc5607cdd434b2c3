"""Transferability scores on real Ray, one task per batch of candidates (every score, rsa included, by its
function in the estimator table), against in-process score_features."""

import numpy as np
import pytest

from cluster.estimator_tasks import rows_frame, score_batch, score_candidates
from rsa_ray.errors import DegenerateInputError
from rsa_ray.resampling import image_subsamples
from rsa_ray.estimators import ESTIMATORS, applicable_scores, score_features
from rsa_ray.target_labels import TargetLabels
from storage import EntryKey
from tests.integration.cluster.helpers import make_store, registry_entries

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

CANDIDATES = ["c0", "c1", "c2", "c3", "c4"]


@pytest.fixture
def zoo(tmp_path):
    store, probe_id, features = make_store(str(tmp_path / "store"), CANDIDATES + ["target"], n_images=24)
    features = {model_id: values for (model_id, _), values in features.items()}
    store.register_models(registry_entries(["flat", "missing"]))
    store.write_activations(EntryKey(probe_id, "flat", "out"), np.ones((24, 6), np.float32))  # constant: degenerate
    return store, probe_id, features


def in_process(features, model_id, labels, score, rows=None):
    """score_features on every image, or on one resample's rows."""
    if rows is None:
        return score_features(score, features[model_id], labels, target_features=features["target"], model=model_id)
    return score_features(score, features[model_id][rows], labels.subset(rows),
                          target_features=features["target"][rows], model=model_id, image_ids=rows)


def test_every_score_of_every_candidate_matches_the_in_process_result(zoo):
    store, probe_id, features = zoo
    labels = TargetLabels.from_array(np.arange(24) % 3)
    scores = list(ESTIMATORS)
    table = rows_frame(score_candidates(store, probe_id, "out", CANDIDATES, labels, scores, target_model="target",
                                        batch_size=2))
    assert list(zip(table["candidate"], table["score"])) == [(m, s) for m in CANDIDATES for s in scores]
    for row in table.itertuples(index=False):
        assert row.error is None and row.samples is None, row
        assert row.value == pytest.approx(in_process(features, row.candidate, labels, row.score), rel=1e-9, abs=1e-12)


def test_a_degenerate_or_missing_candidate_does_not_sink_the_others(zoo):
    store, probe_id, _ = zoo
    labels = TargetLabels.from_array(np.arange(24) % 2)
    table = rows_frame(score_candidates(store, probe_id, "out", ["c0", "flat", "missing", "c1"], labels,
                                        ["rsa", "logme", "knn"], target_model="target"))
    assert table.shape == (12, 5)
    by_candidate = {name: group for name, group in table.groupby("candidate")}
    assert by_candidate["c0"]["error"].isna().all() and by_candidate["c1"]["error"].isna().all()
    assert by_candidate["flat"]["value"].isna().all()
    assert by_candidate["flat"]["error"].str.contains("features are the same for every image").all()
    assert by_candidate["missing"]["error"].str.match("(EntryNotFoundError|IncompleteEntryError): ").all()


def test_resamples_score_each_subsample_of_images_by_the_same_function(zoo):
    store, probe_id, features = zoo
    targets = features["target"][:, :2].astype(np.float64) + np.random.default_rng(0).normal(size=(24, 2))
    labels = TargetLabels.from_array(targets)
    scores = list(applicable_scores(list(ESTIMATORS), labels, has_target_model=True)[0])
    assert "sfda" not in scores and "logme" in scores
    samples = image_subsamples(24, 3, seed=1)  # half the images each, without replacement
    table = rows_frame(score_candidates(store, probe_id, "out", CANDIDATES[:3], labels, scores, target_model="target",
                                        samples=samples))
    for row in table.itertuples(index=False):
        assert row.error is None, row
        assert row.value == pytest.approx(in_process(features, row.candidate, labels, row.score), rel=1e-9, abs=1e-12)
        expected = [in_process(features, row.candidate, labels, row.score, rows) for rows in samples]
        np.testing.assert_allclose(row.samples, expected, rtol=1e-9, atol=1e-12)


def test_a_score_undefined_on_one_sample_names_the_sample(zoo):
    store, probe_id, _ = zoo
    labels = TargetLabels.from_array(np.arange(24) % 2)
    samples = np.stack([np.arange(24), np.zeros(24, dtype=np.int64)])  # sample 1: one image 24 times
    (row,) = score_batch(store, probe_id, "out", ["c0"], labels, ["knn"], samples=samples)
    assert row.value is None and row.error.endswith("(resample 1)")


def test_a_score_the_target_cannot_have_is_refused_before_any_task(zoo):
    store, probe_id, _ = zoo
    regression = TargetLabels.from_array(np.random.default_rng(0).normal(size=24))
    with pytest.raises(ValueError, match=r"score 'sfda' cannot score this target: it does not support regression targets \(only classes\)"):
        score_candidates(store, probe_id, "out", CANDIDATES, regression, ["knn", "sfda"])
    with pytest.raises(ValueError, match="score 'rsa' cannot score this target: the target has no trained model"):
        score_candidates(store, probe_id, "out", CANDIDATES, regression, ["rsa"])
    with pytest.raises(ValueError, match="the target has 23 labels, the probe set"):
        score_candidates(store, probe_id, "out", CANDIDATES, TargetLabels.from_array(np.arange(23) % 2), ["knn"])
    with pytest.raises(ValueError, match="resamples index images outside 0..23"):
        score_candidates(store, probe_id, "out", CANDIDATES, regression, ["knn"], samples=np.full((2, 24), 24))


def test_the_degenerate_error_is_the_one_score_features_raises(zoo):
    store, probe_id, _ = zoo
    labels = TargetLabels.from_array(np.arange(24) % 2)
    table = rows_frame(score_candidates(store, probe_id, "out", ["flat"], labels, ["sfda"]))
    with pytest.raises(DegenerateInputError) as raised:
        score_features("sfda", store.read_activations(EntryKey(probe_id, "flat", "out")), labels, model="flat")
    assert table["error"].tolist() == [f"DegenerateInputError: {raised.value}"]


def test_rsa_reads_the_stored_rdms_and_their_sub_rdms_on_resamples(zoo):
    from rsa_ray.rdm import compute_rdm
    from rsa_ray.rsa_score import rsa_score, rsa_scores_from_rdms

    store, probe_id, features = zoo
    for model_id in ["c0", "c1", "target"]:
        rdm = compute_rdm(features[model_id].astype(np.float64), "correlation", center_features=True)
        store.write_rdm(EntryKey(probe_id, model_id, "out"), rdm)
    # An RDM of another distance is not the one rsa compares: c2 is scored from its features.
    store.write_rdm(EntryKey(probe_id, "c2", "out"), compute_rdm(features["c2"].astype(np.float64), "cosine"),
                    distance="cosine", center_features=False)
    labels = TargetLabels.from_array(np.arange(24) % 3)
    samples = image_subsamples(24, 4, seed=3)
    table = rows_frame(score_candidates(store, probe_id, "out", ["c0", "c1", "c2"], labels, ["rsa", "knn"],
                                        target_model="target", samples=samples))
    rsa = table[table["score"] == "rsa"].set_index("candidate")
    target_rdm = store.read_rdm(EntryKey(probe_id, "target", "out"))
    for model_id in ["c0", "c1"]:
        point, per_sample = rsa_scores_from_rdms(store.read_rdm(EntryKey(probe_id, model_id, "out")), target_rdm,
                                                 samples)
        assert rsa.loc[model_id, "value"] == point
        np.testing.assert_array_equal(rsa.loc[model_id, "samples"], per_sample)
        assert point == pytest.approx(rsa_score(features[model_id], features["target"]), abs=1e-3)
    expected = [in_process(features, "c2", labels, "rsa", rows) for rows in samples]
    np.testing.assert_allclose(rsa.loc["c2", "samples"], expected, rtol=1e-9, atol=1e-12)
    assert table["error"].isna().all()
