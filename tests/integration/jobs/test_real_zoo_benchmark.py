"""``bench/real_zoo.py --preset small`` on real local Ray: real-weight models, the real ``models add`` and
``rank --score all`` commands, a linear-probe and a finetuning (Ray Tune) ground truth with their noise ratios,
and agreement tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from bench.real_zoo import PRESETS, STATIC, TRUTHS, main
from rsa_ray.estimators import ESTIMATORS
from rsa_ray.task_structure import noise_ratio

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]

LABEL_SCORES = [name for name in ESTIMATORS if name != "rsa"]  # rsa needs a trained target model


def test_small_preset_scores_every_estimator_on_every_target(tmp_path, capsys):
    numbers = tmp_path / "real_zoo.json"
    assert main(["--preset", "small", "--work", str(tmp_path / "work"), "--json", str(numbers)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(numbers.read_text())
    preset = PRESETS["small"]
    assert list(report["targets"]) == list(preset.targets)
    models = [m["model_id"] for m in report["models"]]
    assert "mobilenet_v2-imagenet" in models and "mobilenet_v2-noise-0.5" in models and "mtcnn-onet-random-0" in models
    for target, result in report["targets"].items():
        assert f"| {target} |" in printed
        for kind in TRUTHS:
            summary = result[kind]
            per_seed = np.array([result["truth_per_seed"][m][kind] for m in summary["mean"]])
            assert per_seed.shape == (len(models), len(preset.truth_seeds))
            expected = noise_ratio(per_seed if kind == "accuracy" else -per_seed)
            assert summary["noise_ratio"] == pytest.approx(expected.ratio) and np.isfinite(summary["noise_ratio"])
            assert summary["noise_ok"] == expected.passes
            truth = np.array(list(summary["mean"].values()))
            for name in [*LABEL_SCORES, "consensus", *STATIC]:
                row = summary["agreement"][name]
                finite = row["spearman"] is not None and np.isfinite(row["spearman"])
                assert finite or row["uninformative"], (target, kind, name)
                assert f"| {name} |" in printed
            for name in ("logme", "knn", "linear-probe", "rsa-labels"):
                row = summary["agreement"][name]
                assert -1.0 <= row["spearman"] <= 1.0 and row["intervals"]["spearman"][0] <= row["intervals"]["spearman"][1]
                values = np.array([result["scores"][m][name] for m in summary["mean"]])
                assert row["spearman"] == pytest.approx(spearmanr(values, truth).statistic)
    _check_finetune_truth(report, printed, preset)
    assert "wall time:" in printed and "finetune truth" in report["timings_s"]


def _check_finetune_truth(report, printed, preset):
    """The finetuning ground truth (Ray Tune trials) over the torchvision candidates, with its noise ratio."""
    torchvision = [m["model_id"] for m in report["models"] if m["architecture"] in ("mobilenet_v2", "vgg16_bn")]
    assert report["finetune_plan"]["seeds"] == list(preset.finetune.seeds)
    for target, result in report["targets"].items():
        finetune = result["finetune"]
        assert finetune["candidates"] == torchvision and len(torchvision) >= 3
        assert f"| {target} | {result['n_images']} | finetune accuracy |" in printed
        for kind in TRUTHS:
            per_seed = np.array([finetune["truth_per_seed"][m][kind] for m in torchvision])
            assert per_seed.shape == (len(torchvision), len(preset.finetune.seeds))
            assert np.isfinite(per_seed).all() and (per_seed >= 0).all()
            if kind == "accuracy":
                assert (per_seed <= 1).all()
            expected = noise_ratio(per_seed if kind == "accuracy" else -per_seed)
            assert finetune[kind]["noise_ratio"] == pytest.approx(expected.ratio)
            truth = np.array([finetune[kind]["mean"][m] for m in torchvision])
            for name in ("logme", "knn", "linear-probe"):
                row = finetune[kind]["agreement"][name]
                values = np.array([result["scores"][m][name] for m in torchvision])
                assert row["n"] == len(torchvision)
                if np.ptp(values) > 0 and np.ptp(truth) > 0:
                    assert row["spearman"] == pytest.approx(spearmanr(values, truth).statistic)
