"""Seeded initialisation: a library model without weights is the same network in every run.

torchvision, timm and transformers initialise their parameters from torch's global
random generator. :func:`seeded_initialisation` seeds it for the build only and
restores its state afterwards, so building a model neither depends on nor changes
what ran before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from rsa_ray.models.entry import LIBRARY_SOURCES, ModelEntry


class MissingSeedError(ValueError):
    """A library model without weights has no ``seed``: each run would build a different network."""


def check_seed(entry: ModelEntry) -> None:
    """Refuses a torchvision/timm/transformers entry that has neither weights nor a seed.

    Raises:
        MissingSeedError: One line naming the model and the field ``seed``.

    Example:
        >>> from rsa_ray.models.entry import ArchitectureSpec
        >>> check_seed(ModelEntry("r18", "torchvision", ArchitectureSpec("resnet18"), None, ("fc",), "fc"))
        Traceback (most recent call last):
        ...
        rsa_ray.models.seeding.MissingSeedError: model 'r18': field 'seed' is required for a torchvision model without weights (a whole number that fixes its random initialisation)
    """
    if entry.source in LIBRARY_SOURCES and entry.weights is None and entry.seed is None:
        raise MissingSeedError(f"model {entry.model_id!r}: {missing_seed_problem(entry.source.value)}")


def missing_seed_problem(source: str) -> str:
    """The refusal of a seedless library model, without the model's name.

    Example:
        >>> missing_seed_problem("timm").startswith("field 'seed' is required")
        True
    """
    return (f"field 'seed' is required for a {source} model without weights (a whole number that fixes its random "
            "initialisation)")


@contextlib.contextmanager
def seeded_initialisation(seed: int | None) -> Iterator[None]:
    """Runs the block with torch's CPU generator seeded, then restores the generator; None changes nothing.

    Example:
        >>> with seeded_initialisation(3):
        ...     first = torch.nn.Linear(2, 2).weight
        >>> with seeded_initialisation(3):
        ...     second = torch.nn.Linear(2, 2).weight
        >>> bool(torch.equal(first, second))
        True
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
