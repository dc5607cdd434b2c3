"""``train-zoo --smoke-test`` on a real local Ray: files, manifest, weights equal to an in-process run, resuming."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import ray
import torch
from safetensors.torch import load_file

from cluster.train_zoo import STATE_DIR, render_splits, train_zoo
from cluster.zoo_plan import plan_zoo, smoke_test_config
from jobs.cli import build_parser
from jobs.train_zoo import SUBCOMMAND
from rsa_ray.datasets import task_arrays, task_by_name
from rsa_ray.models import build_zoo_model, extract_features, read_manifest, sha256_of_file
from rsa_ray.training import train_steps

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    args = build_parser([SUBCOMMAND]).parse_args(["train-zoo", "--smoke-test", "--out", str(out)])
    assert args.run(args) == 0
    assert ray.is_initialized()  # the job used the running Ray and left it up
    return out


def test_smoke_zoo_manifest_lists_two_tasks_with_checkpoints_and_a_large_model(zoo_dir):
    manifest = read_manifest(zoo_dir / "manifest.yaml")
    assert {e.task for e in manifest.models} == {"depth", "object_class"}
    assert {e.task_type for e in manifest.models} == {"3d", "semantic"}
    ids = [e.model_id for e in manifest.models]
    assert ids == [
        "depth-small-ckpt010", "depth-small-ckpt025", "depth-small-ckpt050", "depth-small",
        "object_class-small-ckpt010", "object_class-small-ckpt025", "object_class-small-ckpt050",
        "object_class-small", "object_class-large",
    ]  # fmt: skip
    large = manifest.models[-1]
    assert large.training.variant == "large" and large.architecture.target.endswith(":build_residual_encoder_decoder")
    assert all(math.isfinite(e.training.validation_loss) for e in manifest.models)
    assert "--smoke-test" in manifest.command
    assert dict(manifest.dataset)["first_val_index"] == 40 and dict(manifest.dataset)["n_train_per_image"] == 40
    for entry in manifest.models:
        assert sha256_of_file(zoo_dir / entry.weights.path) == entry.weights.sha256
    assert not (zoo_dir / STATE_DIR).exists()  # a complete zoo keeps no training state


def test_smoke_zoo_models_load_with_layers_reachable(zoo_dir):
    manifest = read_manifest(zoo_dir / "manifest.yaml")
    splits = render_splits(smoke_test_config(str(zoo_dir)))
    for entry in manifest.models:
        model = build_zoo_model(entry, zoo_dir)
        features = extract_features(model, splits.val.images[:3], entry.layers, entry.preprocessing)
        assert all(np.isfinite(features[layer]).all() for layer in entry.layers)


def test_ray_weights_equal_an_in_process_training_run(zoo_dir, request):
    config = smoke_test_config(str(zoo_dir))
    splits = render_splits(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers train: sums in another order round differently
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    for job in plan_zoo(config)[:2]:
        task = task_by_name(job.task)
        state = train_steps(task, task_arrays(splits.training(job), task), task_arrays(splits.val, task), job.settings)
        written = load_file(zoo_dir / f"{job.model_id}.safetensors")
        for name, tensor in state.checkpoints[-1].state_dict.items():
            assert (tensor.half() == written[name]).all(), (job.model_id, name)


def _weights(folder) -> dict[str, dict]:
    return {path.name: load_file(path) for path in sorted(folder.glob("*.safetensors"))}


def test_a_stopped_run_goes_on_to_the_same_zoo(zoo_dir, tmp_path):
    config = replace(smoke_test_config(str(tmp_path / "zoo")))
    assert train_zoo(config, stop_after_segments=5) is None
    assert not (tmp_path / "zoo" / "manifest.yaml").exists()
    assert len(list((tmp_path / "zoo" / STATE_DIR).glob("*.pt"))) >= 2
    lines = []
    manifest = train_zoo(config, log=lines.append)
    assert manifest is not None and "resumed from a saved state" in lines[0] and not lines[0].startswith("training 0")
    resumed, uninterrupted = _weights(tmp_path / "zoo"), _weights(zoo_dir)
    assert resumed.keys() == uninterrupted.keys()
    for name, tensors in uninterrupted.items():
        for key, tensor in tensors.items():
            assert (resumed[name][key] == tensor).all(), (name, key)
    assert [e.training.validation_loss for e in manifest.models] == [
        e.training.validation_loss for e in read_manifest(zoo_dir / "manifest.yaml").models]


def test_a_changed_setting_retrains_only_the_models_it_decides(zoo_dir, tmp_path):
    folder = tmp_path / "zoo"
    shutil.copytree(zoo_dir, folder)
    before = {path.name: sha256_of_file(path) for path in folder.glob("*.safetensors")}
    lines = []
    manifest = train_zoo(replace(smoke_test_config(str(folder)), class_steps=14), log=lines.append)
    assert lines[0].startswith("training 2 of 3 models") and "1 finished models kept" in lines[0]
    steps = {e.model_id: e.training.steps for e in manifest.models}
    assert steps["depth-small"] == 10 and steps["object_class-small"] == steps["object_class-large"] == 14
    after = {path.name: sha256_of_file(path) for path in folder.glob("*.safetensors")}
    assert all(after[name] == digest for name, digest in before.items() if name.startswith("depth-"))
    assert after["object_class-small.safetensors"] != before["object_class-small.safetensors"]
    lines.clear()
    train_zoo(replace(smoke_test_config(str(folder)), class_steps=14), log=lines.append)
    assert not any(line.startswith("training") for line in lines)  # nothing left to train


def test_a_saved_state_of_other_settings_starts_over(tmp_path):
    config = smoke_test_config(str(tmp_path / "zoo"))
    assert train_zoo(config, stop_after_segments=3) is None
    lines = []
    train_zoo(replace(config, class_steps=14), log=lines.append)
    restarted = [line for line in lines if "starting it over" in line]
    assert restarted and all(line.startswith("object_class-") for line in restarted)
