"""The finetuning ground truth's bookkeeping in bench/real_zoo_finetune.py and bench/real_zoo.py (no Ray)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bench.real_zoo import TRUTHS, finetune_result, finetune_view, truth_table
from bench.real_zoo_finetune import finetune_candidates, main, static_from_report, tables_from_report, torchvision_candidates
from rsa_ray.task_structure import noise_ratio


def _entry(model_id: str, source: str, architecture: str) -> SimpleNamespace:
    return SimpleNamespace(model_id=model_id, source=source, architecture=SimpleNamespace(target=architecture))


MANIFEST = SimpleNamespace(models=[
    _entry("mobilenet_v2-imagenet", "torchvision", "mobilenet_v2"), _entry("mobilenet_v2-random-0", "torchvision", "mobilenet_v2"),
    _entry("mobilenet_v2-noise-1", "torchvision", "mobilenet_v2"), _entry("mobilenet_v2-ft-faces", "torchvision", "mobilenet_v2"),
    _entry("mtcnn-onet-faces", "facenet-pytorch", "ONet"), _entry("vgg16_bn-craft", "torchvision", "vgg16_bn"),
])


def test_candidates_are_the_torchvision_nets_without_the_copy_finetuned_on_the_target():
    assert [e.model_id for e in torchvision_candidates(MANIFEST)] == [
        "mobilenet_v2-imagenet", "mobilenet_v2-random-0", "mobilenet_v2-noise-1", "mobilenet_v2-ft-faces", "vgg16_bn-craft"]
    assert "mobilenet_v2-ft-faces" not in finetune_candidates(MANIFEST, "faces")
    assert "mobilenet_v2-ft-faces" in finetune_candidates(MANIFEST, "digits")


def test_finetune_result_scores_agreement_over_the_torchvision_candidates_only():
    candidates = finetune_candidates(MANIFEST, "faces")
    accuracy = {"mobilenet_v2-imagenet": [0.9, 0.92], "mobilenet_v2-random-0": [0.5, 0.55],
                "mobilenet_v2-noise-1": [0.7, 0.69], "vgg16_bn-craft": [0.8, 0.83]}
    truth = {(m, "faces"): {"accuracy": np.array(v), "log_loss": 1.0 - np.array(v)} for m, v in accuracy.items()}
    table = pd.DataFrame({"knn": [4.0, 1.0, 2.0, 3.0, 9.0], "logme": [1.0, 4.0, 3.0, 2.0, 0.0],
                          "logme.check": [None] * 5, "consensus": [1.0, 4.0, 3.0, 2.0, 5.0]},
                         index=[*candidates, "mtcnn-onet-faces"])
    static = {"static:params": {m: 1.0 + i for i, m in enumerate(e.model_id for e in MANIFEST.models)}}
    result = finetune_result(SimpleNamespace(name="faces"), MANIFEST, table, truth, static, samples=50)
    assert result["candidates"] == candidates
    for kind in TRUTHS:
        per_seed = np.array([accuracy[m] for m in candidates])  # log-loss = 1 - accuracy: the same ratio
        assert result[kind]["noise_ratio"] == pytest.approx(noise_ratio(per_seed).ratio)
        assert result[kind]["best_model"] == "mobilenet_v2-imagenet"
        assert result[kind]["agreement"]["knn"]["spearman"] == pytest.approx(1.0)
        assert result[kind]["agreement"]["logme"]["spearman"] == pytest.approx(-1.0)
        assert result[kind]["agreement"]["knn"]["n"] == 4  # the MTCNN net is not a finetuning candidate
    view = finetune_view({"targets": {"faces": {"n_images": 200, "finetune": result}}})
    assert "| faces | 200 | finetune accuracy | mobilenet_v2-imagenet (0.910) |" in "\n".join(truth_table(view, "finetune"))


def test_stored_tables_keep_the_uninformative_checks_and_static_baselines():
    report = {"models": [{"model_id": "a", "task": "imagenet", "parameters": 3.0},
                         {"model_id": "b", "task": "random-init", "parameters": 5.0}],
              "targets": {"t": {"scores": {"a": {"knn": 0.5, "hscore": 1.0}, "b": {"knn": 0.2, "hscore": 1.0}},
                                "accuracy": {"agreement": {"knn": {"uninformative": None},
                                                           "hscore": {"uninformative": "uninformative (constant)"}}}}}}
    table = tables_from_report(report, "t")
    assert table.loc["a", "knn"] == 0.5 and table["hscore.check"].tolist() == ["uninformative (constant)"] * 2
    assert "knn.check" not in table.columns
    static = static_from_report(report)
    assert static["static:pretrained"] == {"a": 1.0, "b": 0.0}
    assert static["static:pretrained+params"]["a"] > static["static:pretrained+params"]["b"]


def test_command_refuses_a_missing_or_foreign_scores_file(tmp_path, capsys):
    assert main(["--work", str(tmp_path / "w"), "--scores", str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"rows": []}))
    assert main(["--work", str(tmp_path / "w"), "--scores", str(foreign)]) == 2
    assert "not a bench/real_zoo.py report" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()  # nothing written before a refusal
