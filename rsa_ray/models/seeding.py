"""Seeded initialisation: a library model without weights is the same network in every run.

torchvision, timm and transformers initialise their parameters from torch's global
random generator. :func:`seeded_initialisation` seeds it for the build only and
restores its state afterwards, so building a model neither depends on nor changes
what ran before. Which entries need a seed is the entry's rule (:func:`rsa_ray.model_entry.check_seed`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from rsa_ray.model_entry.specs import MissingSeedError, check_seed, missing_seed_problem

__all__ = ["MissingSeedError", "check_seed", "missing_seed_problem", "seeded_initialisation"]


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
