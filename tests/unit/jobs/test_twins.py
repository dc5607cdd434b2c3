"""Random-init twins: registered once from the candidate's entry, hidden from the candidates, subtracted."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.target_scores import candidates_for, twin_adjusted_rows
from jobs.twins import ensure_twins, is_twin, twin_id
from rsa_ray.estimators import ScoreRow
from storage import Store, parse_manifest


def _store(name: str) -> Store:
    store = Store.open(f"memory://{name}")
    store.register_models(parse_manifest([
        {"model_id": "net", "source": "torchvision", "architecture": {"target": "mobilenet_v2"}, "seed": 3,
         "task": "edges", "task_type": "2d", "layers": ["features.18"]},
        {"model_id": "file-net", "source": "safetensors", "task": "edges", "task_type": "2d",
         "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder"},
         "weights": {"path": "s3://zoo/m1.safetensors", "sha256": "0" * 64}, "layers": ["out"]},
    ]))
    return store


def test_a_twin_is_registered_once_from_the_entry_and_hidden_from_the_candidates():
    store = _store("twins-registered")
    assert ensure_twins(store, ["net"], seed=0) == ({"net": "net.twin-0"}, {})
    twin, entry = store.model("net.twin-0"), store.model("net")
    assert (twin.weights, twin.seed, twin.task) == (None, 0, "random-init")
    assert (twin.architecture, twin.layers, twin.specs) == (entry.architecture, entry.layers, entry.specs)
    assert ensure_twins(store, ["net"], seed=0) == ({"net": "net.twin-0"}, {})  # reused, not registered again
    assert is_twin("net.twin-0") and not is_twin("net") and not is_twin("net.twin-x")

    class Record:
        name, model_id = "t", "none"

    assert candidates_for(store, Record()) == ["file-net", "net"]


def _same_architecture(store, *ids, target="mobilenet_v2", module="features.18"):
    store.register_models(parse_manifest([
        {"model_id": model_id, "source": "torchvision", "architecture": {"target": target}, "seed": index,
         "task": f"task-{index}", "task_type": "2d", "layers": [module]} for index, model_id in enumerate(ids)]))


def test_candidates_of_one_architecture_share_one_twin_and_others_get_their_own():
    store = _store("twins-shared")
    _same_architecture(store, "net-noisy", "net-finetuned")
    _same_architecture(store, "small", target="mobilenet_v3_small", module="features.12")

    twin_of, refused = ensure_twins(store, ["net", "net-noisy", "net-finetuned", "small"])

    assert refused == {}
    assert twin_of == {"net": "net.twin-0", "net-noisy": "net.twin-0", "net-finetuned": "net.twin-0",
                       "small": "small.twin-0"}
    assert sorted(m for m in store.model_ids() if is_twin(m)) == ["net.twin-0", "small.twin-0"]
    # A candidate of that architecture registered later reuses the registered twin.
    _same_architecture(store, "net-late")
    assert ensure_twins(store, ["net-late"])[0] == {"net-late": "net.twin-0"}
    assert sorted(m for m in store.model_ids() if is_twin(m)) == ["net.twin-0", "small.twin-0"]
    # Another module read, or another seed, is another network's twin.
    _same_architecture(store, "net-earlier-layer", module="features.10")
    assert ensure_twins(store, ["net-earlier-layer"])[0] == {"net-earlier-layer": "net-earlier-layer.twin-0"}
    assert ensure_twins(store, ["net-noisy"], seed=1)[0] == {"net-noisy": "net-noisy.twin-1"}


def test_a_candidate_without_a_seeded_source_gets_no_twin_and_the_reason():
    store = _store("twins-refused")
    twin_of, refused = ensure_twins(store, ["net", "file-net"])
    assert twin_of == {"net": "net.twin-0"} and list(refused) == ["file-net"]
    assert "a random-init twin needs a source built from a seed alone" in refused["file-net"]
    assert twin_id("file-net", 0) not in store.model_ids()


def test_rows_are_the_score_minus_the_twin_score_on_every_resample():
    rng = np.random.default_rng(0)
    a, twin = rng.normal(size=6), rng.normal(size=6)
    rows = [ScoreRow("a", "knn", 0.9, None, a), ScoreRow("a", "logme", None, "DegenerateInputError: x"),
            ScoreRow("a.twin-0", "knn", 0.4, None, twin), ScoreRow("a.twin-0", "logme", 1.0, None, twin)]
    adjusted = twin_adjusted_rows(rows, ["a"], {"a": "a.twin-0"})
    assert [(r.candidate, r.score) for r in adjusted] == [("a", "knn"), ("a", "logme")]
    assert adjusted[0].value == pytest.approx(0.5)
    np.testing.assert_array_equal(adjusted[0].samples, a - twin)
    assert adjusted[1].value is None and adjusted[1].error == "DegenerateInputError: x"
    missing = twin_adjusted_rows(rows[:1], ["a"], {"a": "a.twin-0"})
    assert missing[0].value is None and "twin has no knn" in missing[0].error


def test_twins_are_left_out_of_the_default_selection_and_listed_apart(capsys):
    from jobs.cli import main
    from jobs.common import choose_models

    store = Store.open("memory://twins-hidden")
    store.register_models(parse_manifest([
        {"model_id": "net", "source": "torchvision", "architecture": {"target": "mobilenet_v2"}, "seed": 3,
         "task": "edges", "task_type": "2d", "layers": ["features.18"]}]))
    ensure_twins(store, ["net"])
    assert set(store.model_ids()) == {"net", "net.twin-0"}
    assert choose_models(store, None) == ["net"]  # taxonomy, rerank, report by default
    assert choose_models(store, ["net.twin-0"]) == ["net.twin-0"]  # still there when named
    assert main(["models", "list", "--store", store.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["net"]
    assert lines[-1] == "and 1 random-init twin of rank --twin-adjust, hidden from candidates and taxonomies: net.twin-0"
