"""A rerank folder with bad manifests: each bad one is recorded and skipped, the rest are registered."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import cluster.connect
import jobs.rerank
from cluster.pipeline import FAILURES_TABLE, RunSummary
from cluster.probe_sets import ExtractedStage
from jobs.cli import main
from jobs.registration import record_failures, register_new_models
from storage import Store, load_manifest
from tests.unit.jobs.bad_inputs import SECRET, good_entry


def _write(path, models):
    path.write_text(yaml.safe_dump({"models": models}))


@pytest.fixture
def landed(tmp_path):
    """A store holding ``zoo-a``, and a folder of three manifests: good, unparsable, one model conflicting."""
    store = Store.open(str(tmp_path / "store"))
    store.add_probe_set(np.zeros((4, 8, 8, 3), np.uint8), ["a", "b", "c", "d"], "tiny")
    _write(tmp_path / "registered.yaml", [good_entry("zoo-a")])
    store.register_models(load_manifest(str(tmp_path / "registered.yaml")))
    folder = tmp_path / "landed"
    folder.mkdir()
    _write(folder / "a-good.yaml", [good_entry("new-1"), good_entry("new-2")])
    (folder / "b-broken.yaml").write_text("models: [ {model_id: x\n")
    conflicting = good_entry("zoo-a")
    conflicting["weights"]["sha256"] = "e" * 64
    _write(folder / "c-conflict.yaml", [conflicting, good_entry("new-3")])
    return store, folder


def test_good_models_go_in_and_each_bad_manifest_or_model_is_a_failure_row(landed):
    store, folder = landed
    registration = register_new_models(store, str(folder))
    assert registration.added == ("new-1", "new-2", "new-3")  # new-3 shares its manifest with the conflict
    assert store.model_ids() == ("new-1", "new-2", "new-3", "zoo-a")
    assert store.model("zoo-a").weights.sha256 != "e" * 64  # the registered entry is kept
    record_failures(store, registration.failures)
    failures = store.read_table(FAILURES_TABLE)
    assert failures["stage"].tolist() == ["register", "register"]
    assert failures["model_id"].tolist() == ["", "zoo-a"]
    broken, conflict = failures["error"].tolist()
    assert broken.startswith(f"manifest {folder}/b-broken.yaml: does not parse")
    assert conflict.startswith(f"manifest {folder}/c-conflict.yaml: model 'zoo-a' is already registered")
    assert all("\n" not in error for error in failures["error"])
    assert register_new_models(store, str(folder)).added == ()  # a rerun adds nothing new


def test_the_rerank_command_prints_one_line_per_refusal_and_exits_3(landed, capsys, monkeypatch, tmp_path):
    store, folder = landed
    computed = {}

    def no_ray(store, probe_id, models, layers, *args, **kwargs):
        computed["models"] = models
        return RunSummary(probe_id, (), (), (), 0)

    monkeypatch.setattr(jobs.rerank, "compute_similarities", no_ray)
    monkeypatch.setattr(jobs.rerank, "extract_probe_sets", lambda store, selections: ExtractedStage())
    monkeypatch.setattr(cluster.connect, "connect", lambda address: None)
    code = main(["rerank", "--store", store.url, "--models-from", str(folder), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 3
    refusals = [line for line in captured.err.splitlines() if "not registered" in line]
    assert len(refusals) == 2 and "b-broken.yaml" in refusals[0] and "'zoo-a'" in refusals[1]
    assert "3 new models registered" in captured.out and "2 refused" in captured.out
    assert set(computed["models"]) == {"new-1", "new-2", "new-3", "zoo-a"}  # the run went on with the rest


def test_a_refused_signed_weights_url_is_recorded_redacted(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    folder = tmp_path / "landed"
    folder.mkdir()
    signed = good_entry("signed")
    signed["weights"]["path"] = f"https://zoo.example/w.safetensors?X-Amz-Signature={SECRET}&token={SECRET}"
    _write(folder / "signed.yaml", [signed, good_entry("plain")])
    registration = register_new_models(store, str(folder))
    record_failures(store, registration.failures)
    assert registration.added == ("plain",)
    assert "X-Amz-Signature=***" in registration.failures[0].error
    stored = [path for path in (tmp_path / "store").rglob("*") if path.is_file()]
    assert stored and not any(SECRET.encode() in path.read_bytes() for path in stored)
