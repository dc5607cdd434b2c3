"""Finetuning a network's last blocks and a new linear head on cached activations of its frozen trunk.

The network is split as ``head(blocks(trunk(x)))``. The trunk stays frozen (eval mode, no gradient), so its
output is computed once per image (:func:`trunk_activations`) and cached; :func:`train_last_blocks` then trains
the blocks (from the candidate's weights, batch norm in train mode) and a fresh linear head on the cache
alone. That gives exactly the updates of training the whole network with its trunk frozen, at the cost of
the last blocks only (no input augmentation: the cache fixes the inputs).

>>> LastBlocksSettings(epochs=2).batch_size
32
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: Per torchvision architecture: (container, first trained index, end index) of the blocks that are trained.
#: They end at the layer the benchmark's scores read (MobileNetV2: the pooled 1,280 features after
#: ``features.18``; VGG16-BN: ``features.39``, the ReLU after conv5_2).
LAST_BLOCKS = {"mobilenet_v2": ("features", 17, 19), "vgg16_bn": ("features", 34, 40)}


@dataclass(frozen=True)
class LastBlocksSettings:
    """The training budget of the last blocks and head.

    Attributes:
        epochs: Passes over the training activations.
        batch_size: Activations per Adam step (a last batch of one is skipped: batch norm needs two).
        learning_rate: Adam learning rate (constant), for the blocks and the head alike.
        weight_decay: Adam L2 weight decay.
        seed: Seeds the head's initialisation and the batch order.
    """

    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class SplitNetwork:
    """A network cut into a frozen trunk and trainable last blocks that end in flat features.

    Attributes:
        trunk: Everything before the trained blocks.
        blocks: The trained blocks, then global average pooling and flattening.
        width: The number of features ``blocks`` outputs.
    """

    trunk: nn.Module
    blocks: nn.Module
    width: int


def split_torchvision(model: nn.Module, architecture: str) -> SplitNetwork:
    """Cuts a torchvision ``mobilenet_v2`` or ``vgg16_bn`` at its :data:`LAST_BLOCKS`.

    Raises:
        ValueError: For an architecture with no known last blocks.

    Example:
        >>> import torchvision
        >>> split = split_torchvision(torchvision.models.mobilenet_v2(), "mobilenet_v2")
        >>> split.width
        1280
    """
    if architecture not in LAST_BLOCKS:
        raise ValueError(f"architecture {architecture!r}: no last blocks known; known: {', '.join(sorted(LAST_BLOCKS))}")
    container, start, end = LAST_BLOCKS[architecture]
    layers = getattr(model, container)
    trained = layers[start:end]
    width = [m for m in trained.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
    return SplitNetwork(trunk=layers[:start], blocks=nn.Sequential(trained, nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                        width=int(width))


def trunk_activations(trunk: nn.Module, inputs: torch.Tensor, batch_size: int = 64,
                      recalibrate_batch_norm: bool = False) -> torch.Tensor:
    """The frozen trunk's output for every input (eval mode, no gradient), in batches.

    With ``recalibrate_batch_norm``, a copy of the trunk first re-estimates every batch norm's running mean
    and variance on ``inputs`` (train mode, a cumulative average over the batches, no gradient; labels play
    no part), as whole-network finetuning would update them; the trunk's weights stay the candidate's. Without
    it, statistics that do not fit the inputs pass through unchanged: a random-init MobileNetV2 in eval mode
    shrinks its signal layer by layer (features.16's output std ~1e-7, below the next batch norm's epsilon),
    so its last blocks could learn nothing from it.

    Example:
        >>> trunk_activations(nn.Conv2d(3, 2, 1), torch.zeros(5, 3, 4, 4)).shape
        torch.Size([5, 2, 4, 4])
        >>> inputs = 5 + 3 * torch.randn(64, 2, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> norm = nn.BatchNorm2d(2)  # running statistics at their initial mean 0, variance 1
        >>> round(float(trunk_activations(norm, inputs).mean())), round(float(trunk_activations(norm, inputs).std()))
        (5, 3)
        >>> recalibrated = trunk_activations(norm, inputs, recalibrate_batch_norm=True)
        >>> abs(round(float(recalibrated.mean()))), round(float(recalibrated.std()))
        (0, 1)
    """
    if recalibrate_batch_norm:
        trunk = copy.deepcopy(trunk)
        norms = [m for m in trunk.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over every batch
        trunk.train()
        with torch.no_grad():
            for batch in inputs.split(batch_size):
                trunk(batch)
    trunk.eval()
    with torch.no_grad():
        return torch.cat([trunk(batch) for batch in inputs.split(batch_size)])


def new_head(width: int, classes: int, seed: int) -> nn.Linear:
    """A fresh linear head, initialised from ``seed`` alone (PyTorch's default initialisation).

    Example:
        >>> bool((new_head(4, 2, 0).weight == new_head(4, 2, 0).weight).all())
        True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Linear(width, classes)


def batch_order(n_rows: int, settings: LastBlocksSettings) -> list[torch.Tensor]:
    """The row indices of every step of training: each epoch a fresh seeded permutation, cut into batches.

    Example:
        >>> [len(batch) for batch in batch_order(5, LastBlocksSettings(epochs=2, batch_size=2))]
        [2, 2, 2, 2]
    """
    generator = torch.Generator().manual_seed(settings.seed)
    steps = []
    for _ in range(settings.epochs):
        steps += [batch for batch in torch.randperm(n_rows, generator=generator).split(settings.batch_size)
                  if len(batch) > 1]
    return steps


def train_last_blocks(blocks: nn.Module, width: int, classes: int, activations: torch.Tensor, labels: torch.Tensor,
                      settings: LastBlocksSettings) -> nn.Sequential:
    """Trains a copy of ``blocks`` and a new head on cached trunk activations; returns them in eval mode.

    Args:
        blocks: The last blocks, with the candidate's weights (copied; the original is left as it is).
        width: Features ``blocks`` outputs.
        classes: Number of classes (labels are 0 .. classes - 1).
        activations: The frozen trunk's output for the training images.
        labels: int64 class of each training image.
        settings: The budget.

    Example:
        >>> blocks = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
        >>> trained = train_last_blocks(blocks, 3, 2, torch.randn(8, 2), torch.arange(8) % 2, LastBlocksSettings(epochs=1))
        >>> trained(torch.zeros(1, 2)).shape
        torch.Size([1, 2])
    """
    model = nn.Sequential(copy.deepcopy(blocks), new_head(width, classes, settings.seed))
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    model.train()
    for batch in batch_order(len(labels), settings):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(activations[batch]), labels[batch]).backward()
        optimiser.step()
    return model.eval()


def predict_probabilities(model: nn.Module, activations: torch.Tensor) -> np.ndarray:
    """Softmax class probabilities (float64) of a trained model on activations, in eval mode.

    Example:
        >>> predict_probabilities(nn.Identity(), torch.zeros(1, 2)).tolist()
        [[0.5, 0.5]]
    """
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(activations).double(), dim=1).numpy()


def held_out_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and log-loss (mean negative log-likelihood, probabilities clipped at 1e-12) of predictions.

    Example:
        >>> held_out_metrics(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]))["accuracy"]
        0.5
    """
    labels = np.asarray(labels, dtype=np.int64)
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return {"accuracy": float((probabilities.argmax(axis=1) == labels).mean()), "log_loss": float(-np.log(picked).mean())}


@dataclass(frozen=True)
class FinetuneJob:
    """What one candidate's finetuning on one target needs.

    Attributes:
        blocks: The candidate's last blocks (its own weights), ending in flat features.
        width: Features ``blocks`` outputs.
        activations: float32 frozen-trunk output of every image of the target.
        labels: int64 class of every image (0 .. C - 1).
    """

    blocks: nn.Module
    width: int
    activations: np.ndarray
    labels: np.ndarray


def cross_validated_finetune(job: FinetuneJob, seed: int, folds: int, settings: LastBlocksSettings) -> dict[str, float]:
    """Held-out accuracy and log-loss of last-blocks finetuning under stratified K-fold CV shuffled by ``seed``.

    Every image is held out once; each fold trains from the candidate's weights with the head and batch
    order seeded by ``seed * 1000 + fold``, and the held-out probabilities of all folds are pooled.

    Example:
        >>> job = FinetuneJob(nn.Flatten(), 2, np.eye(2, dtype=np.float32)[np.arange(12) % 2], np.arange(12) % 2)
        >>> cross_validated_finetune(job, 0, 3, LastBlocksSettings(epochs=20, learning_rate=0.1))["accuracy"]
        1.0
    """
    from sklearn.model_selection import StratifiedKFold

    labels = np.array(job.labels, dtype=np.int64)  # a copy, as for the activations
    classes = int(labels.max()) + 1
    inputs = torch.from_numpy(np.array(job.activations, dtype=np.float32))  # a copy: object-store arrays are read-only
    targets = torch.as_tensor(labels)
    probabilities = np.zeros((len(labels), classes))
    splits = StratifiedKFold(folds, shuffle=True, random_state=int(seed)).split(np.zeros(len(labels)), labels)
    for fold, (train, test) in enumerate(splits):
        fold_settings = dataclasses.replace(settings, seed=int(seed) * 1000 + fold)
        model = train_last_blocks(job.blocks, job.width, classes, inputs[train], targets[train], fold_settings)
        probabilities[test] = predict_probabilities(model, inputs[test])
    return held_out_metrics(probabilities, labels)


def finetune_trial(config: dict, jobs: dict, folds: int, settings: LastBlocksSettings) -> dict:
    """One trial: ``config["job"]`` (a key of ``jobs``) under CV seed ``config["seed"]``, on one torch thread.

    A plain function of its config (as Ray Tune runs it, with ``jobs`` passed by ``tune.with_parameters``);
    returns the held-out metrics with the job and seed.

    Example:
        >>> job = FinetuneJob(nn.Flatten(), 2, np.eye(2, dtype=np.float32)[np.arange(8) % 2], np.arange(8) % 2)
        >>> sorted(finetune_trial({"job": "a", "seed": 0}, {"a": job}, 2, LastBlocksSettings(epochs=1)))
        ['accuracy', 'job', 'log_loss', 'seed']
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metrics = cross_validated_finetune(jobs[config["job"]], int(config["seed"]), folds, settings)
    finally:
        torch.set_num_threads(threads)
    return {**metrics, "job": config["job"], "seed": int(config["seed"])}
