"""``train-zoo --smoke-test`` on a real local Ray: files, manifest, and weights equal to an in-process run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import ray
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import load_file

from cluster.train_zoo import _train_job, plan_zoo, render_splits, smoke_test_config
from jobs.cli import build_parser
from jobs.train_zoo import SUBCOMMAND
from rsa_ray.models import build_zoo_model, extract_features, read_manifest, sha256_of_file

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    args = build_parser([SUBCOMMAND]).parse_args(["train-zoo", "--smoke-test", "--out", str(out)])
    assert args.run(args) == 0
    assert ray.is_initialized()  # the job used the running Ray and left it up
    return out


def test_smoke_zoo_manifest_lists_two_tasks_with_checkpoints(zoo_dir):
    manifest = read_manifest(zoo_dir / "manifest.yaml")
    assert {e.task for e in manifest.models} == {"depth", "object_class"}
    assert {e.task_type for e in manifest.models} == {"3d", "semantic"}
    ids = [e.model_id for e in manifest.models]
    assert ids == [
        "depth-small-ckpt010", "depth-small-ckpt025", "depth-small-ckpt050", "depth-small",
        "object_class-small-ckpt010", "object_class-small-ckpt025", "object_class-small-ckpt050",
        "object_class-small", "object_class-wide",
    ]  # fmt: skip
    assert all(math.isfinite(e.training.validation_loss) for e in manifest.models)
    assert "--smoke-test" in manifest.command
    for entry in manifest.models:
        assert sha256_of_file(zoo_dir / entry.weights.path) == entry.weights.sha256


def test_smoke_zoo_models_load_with_layers_reachable(zoo_dir):
    manifest = read_manifest(zoo_dir / "manifest.yaml")
    train, _ = render_splits(smoke_test_config(str(zoo_dir)))
    for entry in manifest.models:
        model = build_zoo_model(entry, zoo_dir)
        features = extract_features(model, train.images[:3], entry.layers, entry.preprocessing)
        assert all(np.isfinite(features[layer]).all() for layer in entry.layers)


def test_ray_weights_equal_an_in_process_training_run(zoo_dir):
    config = smoke_test_config(str(zoo_dir))
    train, val = render_splits(config)
    job = next(job for job in plan_zoo(config) if job.model_id == "depth-small")
    snapshots = _train_job(job, config, train, val)  # same code, no Ray
    for snapshot in snapshots:
        expected = load_safetensors_bytes(snapshot.weights)
        written = load_file(zoo_dir / snapshot.entry.weights.path)
        assert expected.keys() == written.keys()
        for name in expected:
            assert (expected[name] == written[name]).all(), (snapshot.entry.model_id, name)
