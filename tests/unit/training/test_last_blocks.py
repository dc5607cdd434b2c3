"""Last-blocks finetuning on cached trunk activations (rsa_ray.training.last_blocks), without Ray."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from rsa_ray.training.last_blocks import (
    FinetuneJob,
    LastBlocksSettings,
    batch_order,
    cross_validated_finetune,
    finetune_trial,
    held_out_metrics,
    new_head,
    split_torchvision,
    train_last_blocks,
    trunk_activations,
)


def _tiny_network(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    trunk = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    blocks = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                           nn.Flatten())
    trunk.eval()
    trunk[1].running_mean.uniform_(-0.2, 0.2)  # non-trivial frozen statistics
    trunk[1].running_var.uniform_(0.5, 1.5)
    return trunk, blocks


def _separable_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randn(n, 3, 6, 6, generator=generator) * 0.3
    images[:, 0] += (labels.float() * 2 - 1)[:, None, None] * 1.5  # class sets the mean of channel 0
    return images, labels


def _reference_training(trunk, blocks, width, classes, images, labels, settings) -> nn.Module:
    """The slow, obvious version: the whole network, trunk frozen (eval, no grad), forward from the images."""
    trunk = copy.deepcopy(trunk).eval()
    for parameter in trunk.parameters():
        parameter.requires_grad_(False)
    trained = nn.Sequential(copy.deepcopy(blocks), new_head(width, classes, settings.seed))
    optimiser = torch.optim.Adam(trained.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    trained.train()
    for batch in batch_order(len(labels), settings):
        optimiser.zero_grad()
        nn.functional.cross_entropy(trained(trunk(images[batch])), labels[batch]).backward()
        optimiser.step()
    return nn.Sequential(trunk, trained.eval()).eval()


def test_cached_training_gives_the_logits_of_the_whole_network_with_frozen_trunk():
    trunk, blocks = _tiny_network()
    images, labels = _separable_images(40)
    settings = LastBlocksSettings(epochs=3, batch_size=8, learning_rate=1e-2, weight_decay=1e-3, seed=5)
    cached = train_last_blocks(blocks, 6, 2, trunk_activations(trunk, images), labels, settings)
    whole = _reference_training(trunk, blocks, 6, 2, images, labels, settings)
    test_images, _ = _separable_images(12, seed=1)
    with torch.no_grad():
        direct = whole(test_images)
        from_cache = cached(trunk_activations(trunk, test_images))
    assert not torch.allclose(direct, new_head(6, 2, 5)(blocks.eval()(trunk(test_images))).detach())  # it trained
    torch.testing.assert_close(from_cache, direct, rtol=1e-5, atol=1e-5)


def test_training_leaves_the_candidate_blocks_untouched_and_learns_a_separable_task():
    trunk, blocks = _tiny_network()
    before = copy.deepcopy(blocks.state_dict())
    images, labels = _separable_images(60)
    job = FinetuneJob(blocks, 6, trunk_activations(trunk, images).numpy(), labels.numpy())
    metrics = cross_validated_finetune(job, seed=0, folds=3, settings=LastBlocksSettings(epochs=30, learning_rate=1e-2))
    assert metrics["accuracy"] >= 0.95 and metrics["log_loss"] < 0.3
    untrained = cross_validated_finetune(job, seed=0, folds=3, settings=LastBlocksSettings(epochs=0))
    assert untrained["log_loss"] > metrics["log_loss"] + 0.3
    for key, tensor in blocks.state_dict().items():
        torch.testing.assert_close(tensor, before[key])


def test_seed_changes_the_split_head_and_order_and_repeats_exactly():
    trunk, blocks = _tiny_network()
    images, labels = _separable_images(30)
    job = FinetuneJob(blocks, 6, trunk_activations(trunk, images).numpy(), labels.numpy())
    settings = LastBlocksSettings(epochs=2, batch_size=8)
    first = cross_validated_finetune(job, 0, 3, settings)
    assert cross_validated_finetune(job, 0, 3, settings) == first
    assert cross_validated_finetune(job, 1, 3, settings)["log_loss"] != first["log_loss"]
    threads = torch.get_num_threads()
    trial = finetune_trial({"job": "x", "seed": 0}, {"x": job}, 3, settings)  # one thread: round-off only
    assert (trial["job"], trial["seed"]) == ("x", 0)
    assert trial["log_loss"] == pytest.approx(first["log_loss"], rel=1e-3) and trial["accuracy"] == first["accuracy"]
    assert torch.get_num_threads() == threads


def test_held_out_metrics_match_sklearn():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=20)
    labels = rng.integers(0, 3, size=20)
    metrics = held_out_metrics(probabilities, labels)
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, probabilities, labels=[0, 1, 2]))
    assert metrics["accuracy"] == pytest.approx(float((probabilities.argmax(1) == labels).mean()))


def test_batch_order_skips_single_row_batches_and_covers_every_row_each_epoch():
    steps = batch_order(7, LastBlocksSettings(epochs=2, batch_size=3, seed=1))
    assert [len(s) for s in steps] == [3, 3, 3, 3]
    assert len(set(torch.cat(steps[:2]).tolist())) == 6


@pytest.mark.parametrize("architecture, side, read", [("mobilenet_v2", 32, None), ("vgg16_bn", 32, 40)])
def test_torchvision_split_reproduces_the_read_layer(architecture, side, read):
    torch.manual_seed(0)
    model = getattr(torchvision.models, architecture)().eval()
    split = split_torchvision(model, architecture)
    images = torch.randn(2, 3, side, side)
    with torch.no_grad():
        expected = model.features(images) if read is None else model.features[:read](images)
        pooled = expected.mean(dim=(2, 3))
        torch.testing.assert_close(split.blocks.eval()(split.trunk(images)), pooled, rtol=1e-5, atol=1e-5)
    assert split.width == pooled.shape[1]


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="resnet18.*no last blocks known"):
        split_torchvision(torchvision.models.resnet18(), "resnet18")


def test_recalibrated_batch_norm_keeps_a_random_trunk_s_signal_and_leaves_the_trunk_as_it_was():
    import torchvision

    torch.manual_seed(0)
    trunk = split_torchvision(torchvision.models.mobilenet_v2(), "mobilenet_v2").trunk
    before = {name: value.clone() for name, value in trunk.state_dict().items()}
    images = torch.rand(16, 3, 96, 96)

    frozen = trunk_activations(trunk, images)
    recalibrated = trunk_activations(trunk, images, recalibrate_batch_norm=True)

    assert float(frozen.std()) < 1e-4  # the default running statistics shrink a random net's signal
    assert float(recalibrated.std()) > 0.1
    assert all(torch.equal(before[name], value) for name, value in trunk.state_dict().items())  # a copy was recalibrated
    # A batch norm's recalibrated statistics are the inputs' own: its output is standardised per channel.
    norm = torch.nn.BatchNorm2d(3)
    out = trunk_activations(norm, 5 + 3 * torch.randn(64, 3, 4, 4), batch_size=64, recalibrate_batch_norm=True)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(out.var(dim=(0, 2, 3), unbiased=True), torch.ones(3), atol=1e-2)
